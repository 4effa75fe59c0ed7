// `tamp ui` over HTTP: loopback only, requests must name the server as Host, POSTs must be
// JSON from its own origin, errors come back as status codes with a JSON reason, the page's
// assets are the embedded ones.
#include "ui/server.h"
#include "common.h"
#include "ui/embedded_files.h"

#include "cli/tamp_runner.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <thread>

namespace tamp::cli::ui {
namespace {

namespace fs = std::filesystem;

class UiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* d : {"models", "data", "runs", "outside"})
      fs::create_directories(tmp_.path() / d);
    std::ofstream(tmp_.path() / "models/m.onnx") << "not a model";
    std::ofstream(tmp_.path() / "outside/secret.onnx") << "secret";
    api_ =
        std::make_unique<UiApi>(UiFolders{PathJail((tmp_.path() / "models").string(), "--models"),
                                          PathJail((tmp_.path() / "data").string(), "--data"),
                                          PathJail((tmp_.path() / "runs").string(), "--runs")},
                                TAMP_CLI_BINARY, "");
    server_ = std::make_unique<UiServer>(*api_);
    port_ = server_->bind("127.0.0.1", 0);
    thread_ = std::thread([this] { server_->serve(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
  }
  void TearDown() override {
    server_->stop();
    thread_.join();
  }
  httplib::Headers own_host() const { return {{"Host", "127.0.0.1:" + std::to_string(port_)}}; }
  static nlohmann::json body(const httplib::Result& r) { return nlohmann::json::parse(r->body); }

  test::TempDir tmp_;
  std::unique_ptr<UiApi> api_;
  std::unique_ptr<UiServer> server_;
  std::unique_ptr<httplib::Client> client_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(UiServerTest, ServesTheEmbeddedPage) {
  auto r = client_->Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, std::string(find_embedded(page_assets(), "index.html")->bytes));
  EXPECT_NE(r->body.find("<script src=\"/assets/app.js\""), std::string::npos);
  EXPECT_EQ(r->get_header_value("Content-Security-Policy").rfind("default-src 'self'", 0), 0u);
  r = client_->Get("/assets/app.js");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  r = client_->Get("/assets/../api/catalog");  // the client sends it as written
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = client_->Get("/assets/missing.js");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

// A page on another site whose DNS name now points at 127.0.0.1 sends its own Host.
TEST_F(UiServerTest, RefusesRequestsForAnotherHost) {
  auto r = client_->Get("/api/catalog", {{"Host", "evil.example:" + std::to_string(port_)}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(body(r)["error"].get<std::string>().find("evil.example"), std::string::npos);
  r = client_->Get("/api/catalog", {{"Host", "localhost:" + std::to_string(port_)}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body(r)["models"], nlohmann::json({"m.onnx"}));
}

TEST_F(UiServerTest, PostsMustBeJsonFromThisOrigin) {
  const std::string recipe = R"({"model": "m.onnx", "dataset": "x", "goal": "int8"})";
  auto r =
      client_->Post("/api/recipe", {{"Origin", "http://evil.example"}}, recipe, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = client_->Post("/api/recipe", recipe, "text/plain");  // what a cross-site form may send
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = client_->Post("/api/recipe", {{"Origin", "http://127.0.0.1:" + std::to_string(port_)}},
                    recipe, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);  // allowed through; the data set 'x' does not exist
  EXPECT_FALSE(body(r)["error"].get<std::string>().empty());
}

TEST_F(UiServerTest, ErrorsBecomeStatusCodes) {
  auto r = client_->Post("/api/recipe",
                         R"({"model": "../outside/secret.onnx", "dataset": "x", "goal": "int8"})",
                         "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(body(r)["error"].get<std::string>().find("--models"), std::string::npos);
  r = client_->Post("/api/recipe", "{not json", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = client_->Get("/api/runs/nothing");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = client_->Get("/api/runs/../metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = client_->Get("/runs/nothing/model");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = client_->Get("/api/runs");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body(r), nlohmann::json::array());
}

TEST_F(UiServerTest, DownloadsTheExportedModelOfARun) {
  const fs::path dir = tmp_.path() / "runs/done";
  fs::create_directories(dir);
  write_json_file(dir / "ui_run.json", {{"id", "done"}, {"started", 1.0}});
  std::string bytes(200000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  std::ofstream(dir / "model.onnx", std::ios::binary) << bytes;
  write_json_file(dir / "summary.json", {{"export", {{"path", (dir / "model.onnx").string()}}}});
  auto r = client_->Get("/runs/done/model");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, bytes);
  EXPECT_EQ(r->get_header_value("Content-Disposition"), "attachment; filename=\"done-model.onnx\"");
  // A summary that points outside the run's folder is not followed.
  write_json_file(dir / "summary.json",
                  {{"export", {{"path", (tmp_.path() / "outside/secret.onnx").string()}}}});
  r = client_->Get("/runs/done/model");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
}

TEST(UiBind, RefusesAddressesOtherThanLoopback) {
  for (const char* a : {"0.0.0.0", "::", "192.168.1.10", "127.0.0.2", ""}) {
    EXPECT_THROW(require_loopback(a), UsageError) << a;
  }
  EXPECT_NO_THROW(require_loopback("127.0.0.1"));
  EXPECT_NO_THROW(require_loopback("localhost"));
  test::TempDir tmp;
  const test::CliResult r =
      test::run_tamp({"ui", "--bind", "0.0.0.0", "--models", tmp.path().string(), "--data",
                      tmp.path().string(), "--runs", tmp.file("runs")});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("127.0.0.1 only"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tamp::cli::ui
