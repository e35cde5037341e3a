#!/usr/bin/env bash
# Installs the Debian packages the platform and its test suite need, but only those missing:
#   mpirun (openmpi-bin)      MPI jobs of the local backend
#   chromium                  the real-browser tests (Playwright drives the system browser)
#   initdb/pg_ctl (postgresql) the PostgreSQL server the test suite starts for itself
#   node, npm (nodejs, npm)   configurable-http-proxy and the labextension build
#   python3 -m venv           the project's virtual environment (python3-venv)
# Runs non-interactively as root; as another user it uses `sudo -n` when that works.
# Set SXWL_SKIP_SYSTEM_DEPS=1 to skip (e.g. when an image already provides everything).
set -euo pipefail

if [[ "${SXWL_SKIP_SYSTEM_DEPS:-}" == 1 ]]; then
  echo "system-deps: skipped (SXWL_SKIP_SYSTEM_DEPS=1)"
  exit 0
fi

have() { command -v "$1" >/dev/null 2>&1; }

# Debian's postgresql package keeps the server binaries out of PATH.
have_postgres() {
  have initdb && have pg_ctl && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

missing=()
have mpirun || missing+=(openmpi-bin)
have chromium || missing+=(chromium)
have_postgres || missing+=(postgresql)
have node || missing+=(nodejs)
have npm || missing+=(npm)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "system-deps: all present (mpirun, chromium, postgresql, node, npm, python3-venv)"
  exit 0
fi

echo "system-deps: installing ${missing[*]}"
if ! have apt-get; then
  echo "system-deps: apt-get not found; install these yourself: ${missing[*]}" >&2
  exit 1
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if have sudo && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "system-deps: not root and no passwordless sudo; as root run:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  "${missing[@]}"
