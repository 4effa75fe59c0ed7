// The folders of `tamp ui`: names from the page stay inside, whatever they spell (absolute
// paths, "..", links out of the folder, dangling links, a sibling folder sharing a prefix).
#include "ui/path_jail.h"

#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <fstream>
#include <vector>

namespace tamp::cli::ui {
namespace {

namespace fs = std::filesystem;

class PathJailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.path() / "models";
    fs::create_directories(root_ / "sub");
    fs::create_directories(tmp_.path() / "models2");
    fs::create_directories(tmp_.path() / "outside");
    touch(root_ / "cnn.onnx");
    touch(root_ / "sub" / "mlp.onnx");
    touch(tmp_.path() / "outside" / "secret.onnx");
    touch(tmp_.path() / "models2" / "sibling.onnx");
  }
  static void touch(const fs::path& p) { std::ofstream(p) << "x"; }

  test::TempDir tmp_;
  fs::path root_;
};

TEST_F(PathJailTest, ResolvesNamesInsideToCanonicalPaths) {
  const PathJail jail(root_.string(), "--models");
  EXPECT_EQ(jail.resolve("cnn.onnx"), fs::canonical(root_ / "cnn.onnx"));
  EXPECT_EQ(jail.resolve("sub/mlp.onnx"), fs::canonical(root_ / "sub" / "mlp.onnx"));
  EXPECT_EQ(jail.resolve("new/run"), fs::canonical(root_) / "new" / "run");  // need not exist
  EXPECT_EQ(jail.relative(jail.resolve("sub/mlp.onnx")), "sub/mlp.onnx");
}

TEST_F(PathJailTest, RefusesAbsoluteEmptyAndDotDotNames) {
  const PathJail jail(root_.string(), "--models");
  for (const std::string& bad : std::vector<std::string>{
           "", "/etc/passwd", (tmp_.path() / "outside" / "secret.onnx").string(),
           "../outside/secret.onnx", "sub/../../outside/secret.onnx", "sub/../cnn.onnx", "..",
           "../models2/sibling.onnx", std::string("cnn.onnx\0x", 10)}) {
    EXPECT_THROW(jail.resolve(bad), OutsideFolder) << "'" << bad << "'";
  }
}

TEST_F(PathJailTest, RefusesLinksLeadingOutside) {
  fs::create_symlink(tmp_.path() / "outside" / "secret.onnx", root_ / "link.onnx");
  fs::create_directory_symlink(tmp_.path() / "outside", root_ / "linked_dir");
  fs::create_symlink(tmp_.path() / "outside" / "not_yet.onnx", root_ / "dangling.onnx");
  fs::create_symlink(root_ / "cnn.onnx", root_ / "inner_link.onnx");
  const PathJail jail(root_.string(), "--models");
  EXPECT_THROW(jail.resolve("link.onnx"), OutsideFolder);
  EXPECT_THROW(jail.resolve("linked_dir/secret.onnx"), OutsideFolder);
  EXPECT_THROW(jail.resolve("linked_dir/new_file.onnx"), OutsideFolder);
  // A dangling link's target does not exist yet; a file written through it would be outside.
  EXPECT_THROW(jail.resolve("dangling.onnx"), OutsideFolder);
  EXPECT_EQ(jail.resolve("inner_link.onnx"), fs::canonical(root_ / "cnn.onnx"));
}

TEST_F(PathJailTest, ContainsComparesWholeComponents) {
  const PathJail jail(root_.string(), "--models");
  EXPECT_TRUE(jail.contains(root_ / "cnn.onnx"));
  EXPECT_TRUE(jail.contains(root_ / "sub" / ".." / "cnn.onnx"));  // resolved: still inside
  EXPECT_FALSE(jail.contains(tmp_.path() / "models2" /
                             "sibling.onnx"));  // "models" is a prefix of "models2"
  EXPECT_FALSE(jail.contains(root_ / ".." / "outside" / "secret.onnx"));
  EXPECT_FALSE(jail.contains("/etc/passwd"));
  fs::create_symlink(tmp_.path() / "outside", root_ / "out");
  EXPECT_FALSE(jail.contains(root_ / "out" / "secret.onnx"));
  EXPECT_THROW(jail.require(root_ / "out" / "secret.onnx", "the recipe's model"), OutsideFolder);
  EXPECT_NO_THROW(jail.require(root_ / "cnn.onnx", "the recipe's model"));
}

TEST_F(PathJailTest, RootIsFixedWhenTheJailIsMade) {
  fs::create_directory_symlink(root_, tmp_.path() / "current");
  const PathJail jail((tmp_.path() / "current").string(), "--models");
  EXPECT_EQ(jail.root(), fs::canonical(root_));
  fs::remove(tmp_.path() / "current");
  fs::create_directory_symlink(tmp_.path() / "outside", tmp_.path() / "current");
  EXPECT_FALSE(jail.contains(tmp_.path() / "current" / "secret.onnx"));
  EXPECT_THROW(PathJail((tmp_.path() / "missing").string(), "--runs"), Error);
}

}  // namespace
}  // namespace tamp::cli::ui
