#!/usr/bin/env bash
# Regenerate daemon/herald/esphome/api_pb2.py and .pyi from api.proto.
# protoc comes from grpcio-tools and the typed stub (clean under mypy --strict) from
# mypy-protobuf, both in a throw-away venv: build tools, not dependencies;
# the protoc major must match the protobuf runtime major pinned in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${GEN_VENV:-/tmp/herald-protoc-venv}"
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q 'grpcio-tools>=1.85,<1.86' 'mypy-protobuf>=5.1,<6'; }
out=daemon/herald/esphome
# -Idaemon: the descriptor is registered as herald/esphome/api.proto, not api.proto
# (aioesphomeapi registers that name in the same default pool).
"$venv/bin/python" -m grpc_tools.protoc -Idaemon --python_out=daemon --plugin=protoc-gen-mypy="$venv/bin/protoc-gen-mypy" --mypy_out=daemon "$out/api.proto"
# The serialized descriptor is one long line: exempt the generated files from E501.
sed -i '1i # ruff: noqa: E501' "$out/api_pb2.py"
sed -i '1i # ruff: noqa' "$out/api_pb2.pyi"
ruff=".venv/bin/ruff"
"$ruff" check --fix -q "$out/api_pb2.py" "$out/api_pb2.pyi" || true
"$ruff" format -q "$out/api_pb2.py" "$out/api_pb2.pyi"
