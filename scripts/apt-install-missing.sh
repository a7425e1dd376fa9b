# Sourced by the install scripts: apt_install_missing TAG PACKAGE... installs the given Debian
# packages with apt-get, as root or through sudo, and says which. Callers decide what is missing.
apt_install_missing() {
  local tag="$1"
  shift
  [ $# -gt 0 ] || return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
      echo "$tag: need root (or sudo) to install: $*" >&2
      return 1
    fi
  fi
  echo "$tag: apt-get install $*"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

has_prosody() { command -v prosody >/dev/null 2>&1 || [ -x /usr/bin/prosody ]; }
