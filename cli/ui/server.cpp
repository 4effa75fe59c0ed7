#include "ui/server.h"
#include "common.h"
#include "ui/embedded_files.h"

#include <fmt/format.h>
#include <httplib.h>

#include <fstream>

namespace tamp::cli::ui {

namespace fs = std::filesystem;

void require_loopback(const std::string& address) {
  if (address != "127.0.0.1" && address != "localhost") {
    throw UsageError(fmt::format(
        "--bind {}: tamp ui serves on 127.0.0.1 only (it starts runs and hands out files); "
        "reach it from another machine through an SSH tunnel (docs/ui.md)",
        address));
  }
}

namespace {

const char* mime_type(const std::string& path) {
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".svg") return "image/svg+xml";
  return "application/octet-stream";
}

void send_json(httplib::Response& res, const nlohmann::json& j, int status = 200) {
  res.status = status;
  res.set_content(j.dump(), "application/json");
}

// Runs an endpoint; its exceptions become the status codes of api.h with {"error", "hint"}.
template <typename Body> void respond(httplib::Response& res, Body body) {
  try {
    body();
  } catch (const OutsideFolder& e) {
    send_json(res, {{"error", e.message()}, {"hint", e.hint()}}, 403);
  } catch (const NotFound& e) {
    send_json(res, {{"error", e.message()}, {"hint", e.hint()}}, 404);
  } catch (const Error& e) {
    send_json(res, {{"error", e.message()}, {"hint", e.hint()}},
              e.kind() == ErrorKind::kInternal ? 500 : 400);
  } catch (const UsageError& e) {
    send_json(res, {{"error", e.what()}, {"hint", ""}}, 400);
  } catch (const nlohmann::json::exception& e) {
    send_json(res, {{"error", std::string("malformed request: ") + e.what()}, {"hint", ""}}, 400);
  } catch (const std::exception& e) {
    send_json(res, {{"error", e.what()}, {"hint", ""}}, 500);
  }
}

nlohmann::json request_json(const httplib::Request& req) {
  nlohmann::json j = nlohmann::json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw Error("the request body is not a JSON object", ErrorKind::kInvalidInput);
  return j;
}

// A file as the response body, read in pieces as the client takes them.
void send_file(httplib::Response& res, const fs::path& path, const char* type,
               const std::string& download_name) {
  const uint64_t size = fs::file_size(path);
  auto file = std::make_shared<std::ifstream>(path, std::ios::binary);
  if (!*file) throw NotFound(fmt::format("cannot read '{}'", path.string()));
  if (!download_name.empty()) {
    res.set_header("Content-Disposition",
                   fmt::format("attachment; filename=\"{}\"", download_name));
  }
  res.set_content_provider(
      size, type, [file](size_t offset, size_t length, httplib::DataSink& sink) {
        std::vector<char> buf(std::min<size_t>(length, 1 << 16));
        file->seekg(static_cast<std::streamoff>(offset));
        file->read(buf.data(), static_cast<std::streamsize>(buf.size()));
        return file->gcount() > 0 && sink.write(buf.data(), static_cast<size_t>(file->gcount()));
      });
}

}  // namespace

UiServer::UiServer(UiApi& api) : api_(api), http_(std::make_unique<httplib::Server>()) {
  add_routes();
}

UiServer::~UiServer() = default;

int UiServer::bind(const std::string& address, int port) {
  require_loopback(address);
  if (port == 0) {
    port_ = http_->bind_to_any_port("127.0.0.1");
  } else {
    port_ = http_->bind_to_port("127.0.0.1", port) ? port : -1;
  }
  if (port_ <= 0) {
    throw Error(fmt::format("cannot listen on 127.0.0.1:{}", port), ErrorKind::kIo,
                "the port is taken: pick another with --port (0: any free one)");
  }
  return port_;
}

void UiServer::serve() { http_->listen_after_bind(); }

void UiServer::stop() { http_->stop(); }

bool UiServer::allowed(const std::string& host, const std::string& origin,
                       const std::string& method, const std::string& content_type,
                       std::string& why) const {
  const std::string hosts[] = {fmt::format("127.0.0.1:{}", port_),
                               fmt::format("localhost:{}", port_)};
  if (host != hosts[0] && host != hosts[1]) {
    why = fmt::format("Host '{}' is not this server (127.0.0.1:{})", host, port_);
    return false;
  }
  if (method != "POST") return true;
  if (!origin.empty() && origin != "http://" + hosts[0] && origin != "http://" + hosts[1]) {
    why = fmt::format("a request from the page of '{}' is refused", origin);
    return false;
  }
  // Another site's form can post text/plain without asking; JSON needs a CORS preflight,
  // which this server never grants.
  if (content_type.rfind("application/json", 0) != 0) {
    why = "POST bodies must be application/json";
    return false;
  }
  return true;
}

void UiServer::add_routes() {
  httplib::Server& s = *http_;
  s.set_payload_max_length(4 << 20);  // recipes are a few KiB
  s.set_default_headers(
      {{"Content-Security-Policy",
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"},
       {"X-Content-Type-Options", "nosniff"},
       {"Cache-Control", "no-store"}});
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    std::string why;
    if (allowed(req.get_header_value("Host"), req.get_header_value("Origin"), req.method,
                req.get_header_value("Content-Type"), why)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    send_json(res, {{"error", why}, {"hint", "open the page at the address tamp ui printed"}}, 403);
    return httplib::Server::HandlerResponse::Handled;
  });

  auto asset = [](const std::string& path, httplib::Response& res) {
    const EmbeddedFile* f = find_embedded(page_assets(), path);
    if (!f) return send_json(res, {{"error", "no such file"}, {"hint", ""}}, 404);
    res.set_content(std::string(f->bytes), mime_type(path));
  };
  s.Get("/",
        [asset](const httplib::Request&, httplib::Response& res) { asset("index.html", res); });
  s.Get("/assets/([A-Za-z0-9_.-]+)", [asset](const httplib::Request& req, httplib::Response& res) {
    asset(req.matches[1], res);
  });

  s.Get("/api/catalog", [this](const httplib::Request&, httplib::Response& res) {
    respond(res, [&] { send_json(res, api_.catalog()); });
  });
  s.Post("/api/recipe", [this](const httplib::Request& req, httplib::Response& res) {
    respond(res, [&] { send_json(res, api_.new_recipe(request_json(req))); });
  });
  s.Get("/api/runs", [this](const httplib::Request&, httplib::Response& res) {
    respond(res, [&] { send_json(res, api_.runs()); });
  });
  s.Post("/api/runs", [this](const httplib::Request& req, httplib::Response& res) {
    respond(res, [&] { send_json(res, api_.start_run(request_json(req)), 201); });
  });
  s.Get("/api/runs/([^/]+)", [this](const httplib::Request& req, httplib::Response& res) {
    respond(res, [&] { send_json(res, api_.run(req.matches[1])); });
  });
  s.Get("/api/runs/([^/]+)/metrics", [this](const httplib::Request& req, httplib::Response& res) {
    respond(res, [&] {
      const std::string from = req.has_param("from") ? req.get_param_value("from") : "0";
      if (from.empty() || from.find_first_not_of("0123456789") != std::string::npos ||
          from.size() > 18) {
        throw Error(fmt::format("from={}: want a byte offset", from), ErrorKind::kInvalidInput);
      }
      send_json(res, api_.metrics(req.matches[1], std::stoull(from)));
    });
  });
  s.Get("/api/runs/([^/]+)/layers", [this](const httplib::Request& req, httplib::Response& res) {
    respond(res, [&] { send_json(res, api_.layers(req.matches[1])); });
  });
  s.Post("/api/runs/([^/]+)/(stop|resume|latency)",
         [this](const httplib::Request& req, httplib::Response& res) {
           respond(res, [&] {
             const std::string id = req.matches[1], action = req.matches[2];
             send_json(res, action == "stop"     ? api_.stop(id)
                            : action == "resume" ? api_.resume(id)
                                                 : api_.measure_latency(id));
           });
         });
  s.Get("/runs/([^/]+)/model", [this](const httplib::Request& req, httplib::Response& res) {
    respond(res, [&] {
      const std::string id = req.matches[1];
      const fs::path model = api_.exported_model(id);
      send_file(res, model, "application/octet-stream",
                id + "-" + safe_file_stem(model.filename().string()));
    });
  });
  s.Get("/runs/([^/]+)/report", [this](const httplib::Request& req, httplib::Response& res) {
    respond(res,
            [&] { send_file(res, api_.report(req.matches[1]), "text/html; charset=utf-8", ""); });
  });
}

}  // namespace tamp::cli::ui
