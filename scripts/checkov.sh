#!/usr/bin/env bash
# Static security scan of terraform/ with checkov.
#
# checkov pins its own python-hcl2 (and other parsers) that clash with the project's, so it
# lives in a venv of its own under .stack/ (git-ignored) and never in the project venv.
# Exits non-zero when any check fails; justified skips are inline `#checkov:skip=` comments,
# listed with their reasons in terraform/README.md.
set -euo pipefail

CHECKOV_VERSION="3.3.30"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ROOT}/.stack/checkov-venv"
PYTHON="${PYTHON:-python3.11}"
command -v "${PYTHON}" >/dev/null 2>&1 || PYTHON=python3

if [[ ! -x "${VENV}/bin/checkov" ]] \
    || [[ "$("${VENV}/bin/pip" show checkov 2>/dev/null | sed -n 's/^Version: //p')" != "${CHECKOV_VERSION}" ]]; then
    echo "checkov.sh: installing checkov ${CHECKOV_VERSION} into ${VENV}" >&2
    "${PYTHON}" -m venv "${VENV}"
    "${VENV}/bin/pip" install --quiet --disable-pip-version-check "checkov==${CHECKOV_VERSION}"
fi

cd "${ROOT}"
# --skip-download: no Bridgecrew/Prisma platform calls (and no internet in CI).
exec "${VENV}/bin/checkov" -d terraform --framework terraform --skip-download --quiet --compact "$@"
