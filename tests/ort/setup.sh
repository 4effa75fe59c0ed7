#!/usr/bin/env bash
# Installs onnxruntime-node (pinned in package.json) into tests/ort/node_modules.
# Idempotent: does nothing when the pinned version is already there.
# ONNXRUNTIME_NODE_INSTALL=skip: the CPU library ships inside the npm package; the
# package's install script would otherwise try to download GPU builds.
set -euo pipefail
cd "$(dirname "$0")"
want=$(node -p "require('./package.json').dependencies['onnxruntime-node']")
have=$(node -p "try { require('./node_modules/onnxruntime-node/package.json').version } catch (e) { '' }")
if [ "$have" = "$want" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "setup.sh: npm is missing (apt-get install npm)" >&2; exit 1; }
echo "setup.sh: installing onnxruntime-node $want into $(pwd)/node_modules"
if [ -f package-lock.json ]; then
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
else
  ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --loglevel=error
fi
node -e "require('onnxruntime-node')" || { echo "setup.sh: onnxruntime-node does not load" >&2; exit 1; }
