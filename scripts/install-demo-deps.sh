#!/usr/bin/env bash
# Installs what `npm run demo` needs beyond `npm ci`: the Debian package prosody (the demo starts a
# private instance of it on 127.0.0.1). Installs nothing when it is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/apt-install-missing.sh
has_prosody || apt_install_missing install-demo-deps prosody
