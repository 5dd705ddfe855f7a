# Sourced by the scripts that drive real clients (az, skopeo) against `npm run emulator`: starts the
# emulator as a user does, in its own process group, waits for it, exports the settings it prints
# (export KEY='value' lines: ARM endpoint, CA file, MSI_ENDPOINT/MSI_SECRET, registry host…), and stops it and
# removes $WORK on exit. The caller sets PREFIX (its log prefix) first; fail and step use it.
WORK=$(mktemp -d)
EMULATOR_PID=
cleanup() {
  if [[ -n "$EMULATOR_PID" ]]; then kill -- "-$EMULATOR_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "$PREFIX: FAIL $*" >&2
  exit 1
}
step() { echo "$PREFIX: \$ $*"; }

setsid npm run --silent emulator >"$WORK/emulator.log" 2>&1 &
EMULATOR_PID=$!
for _ in $(seq 1 120); do
  grep -q '^# Ctrl-C to stop.' "$WORK/emulator.log" && break
  kill -0 "$EMULATOR_PID" 2>/dev/null || { cat "$WORK/emulator.log" >&2; fail "emulator exited"; }
  sleep 0.5
done
grep -q '^# Ctrl-C to stop.' "$WORK/emulator.log" || fail "emulator did not start in 60 s"
# The lines are `export NAME='value'`, quoted for the shell: evaluated as a user pasting them would.
eval "$(grep -E "^export [A-Z_]+='" "$WORK/emulator.log")"
