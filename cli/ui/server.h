// The HTTP side of `tamp ui`: the embedded page (ui/assets), the JSON endpoints of UiApi and
// the files of runs, on 127.0.0.1 only. Requests must name the server itself as Host (a page
// elsewhere that rebinds its DNS name to 127.0.0.1 is refused) and POSTs must be JSON from
// the server's own origin.
//
//   UiServer server(api);
//   int port = server.bind("127.0.0.1", 0);      // 0: any free port
//   server.serve();                               // blocks until stop()
#pragma once

#include "ui/api.h"

#include <memory>
#include <string>

namespace httplib {
class Server;
}

namespace tamp::cli::ui {

// Throws UsageError for any address but 127.0.0.1 and localhost: the server starts
// processes and hands out files, so it is never reachable from another machine.
void require_loopback(const std::string& address);

class UiServer {
 public:
  explicit UiServer(UiApi& api);
  ~UiServer();
  UiServer(const UiServer&) = delete;
  UiServer& operator=(const UiServer&) = delete;

  // Returns the port bound (the one picked for port 0); throws kIo when it is taken.
  int bind(const std::string& address, int port);
  void serve();
  void stop();

 private:
  void add_routes();
  bool allowed(const std::string& host, const std::string& origin, const std::string& method,
               const std::string& content_type, std::string& why) const;

  UiApi& api_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
};

}  // namespace tamp::cli::ui
