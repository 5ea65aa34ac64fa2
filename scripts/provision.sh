#!/usr/bin/env bash
# Install system packages the book uses, where apt-get is usable (root or sudo).
# Usage: provision.sh data     -> Debian's dataset-fashion-mnist
#        provision.sh browser  -> Debian's chromium (for tests/test_site.py)
#        provision.sh npm      -> Debian's npm (installs onnxruntime-web for chapter 7's page)
#        provision.sh poppler  -> Debian's poppler-utils (pdftotext, pdfimages: tests/test_handin.py)
# Where apt-get is not usable this prints what is missing and exits 0: data is
# then downloaded on first use, and the browser test skips with a reason.
set -euo pipefail

want="${1:?usage: provision.sh data|browser|npm|poppler}"
case "$want" in
  data)    pkg=dataset-fashion-mnist; present=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ;;
  browser) pkg=chromium;              present=/usr/bin/chromium ;;
  npm)     pkg=npm;                   present="$(command -v npm || echo /usr/bin/npm)" ;;
  poppler) pkg=poppler-utils;         present=/usr/bin/pdftotext ;;
  *) echo "provision.sh: unknown target '$want'" >&2; exit 2 ;;
esac

[ -e "$present" ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "provision: apt-get not found; install '$pkg' yourself if you want it." >&2; exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
  echo "provision: not root and no passwordless sudo; install '$pkg' yourself if you want it." >&2; exit 0
fi
echo "provision: installing Debian package '$pkg'"
$SUDO apt-get install -y -q "$pkg" >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q "$pkg" >/dev/null; } \
  || echo "provision: could not install '$pkg'; continuing without it." >&2
