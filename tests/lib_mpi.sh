# Sourced by tests/cli_mpi_*.sh (not a test itself: its name keeps it out of the
# tests/cli_*.sh glob). Gives what lib_cli.sh gives plus $MPIRUN (two ranks on this
# machine, over loopback) and st_compare. Skips (77) when mmfuse was built without MPI.
. "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
if [ -z "${MMFUSE_MPIRUN:-}" ] || [ ! -x "${MMFUSE_MPIRUN}" ]; then
  echo "skipped: mmfuse was built without MPI (MMFUSE_MPI; scripts/install-deps.sh test installs Open MPI)"
  exit 77
fi
need_numpy
# --oversubscribe: two ranks even where fewer cores are free; root allowed (CI containers).
# Sanitizer builds: Open MPI keeps start-up allocations until exit and LSan reports
# them. The suppressions name only Open MPI's libraries (tests/lsan-openmpi.supp); to
# let them match, its plugins stay loaded at exit (unloaded, their frames are
# "<unknown module>") and stacks are unwound fully (Open MPI has no frame pointers).
export LSAN_OPTIONS="suppressions=$SRC/tests/lsan-openmpi.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
[ -n "${ASAN_OPTIONS:-}" ] && export ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0"
export OMPI_MCA_mca_base_component_disable_dlclose=1
MPIRUN=("$MMFUSE_MPIRUN" --oversubscribe --allow-run-as-root --mca btl self,vader,tcp)
for v in LSAN_OPTIONS ASAN_OPTIONS UBSAN_OPTIONS OMPI_MCA_mca_base_component_disable_dlclose; do
  [ -n "${!v:-}" ] && MPIRUN+=(-x "$v")
done
# st_compare A B TOL [SKIP]: same header (tensors, shapes, dtypes, metadata) and every tensor
# within TOL, but those whose name matches the regular expression SKIP (shapes still compared)
st_compare() {
  $PY - "$1" "$2" "$3" "${4:-}" <<'PYEOF'
import json, re, struct, sys
import numpy as np
def load(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]
(ha, da), (hb, db) = load(sys.argv[1]), load(sys.argv[2])
tol = float(sys.argv[3])
if ha.get('__metadata__') != hb.get('__metadata__'):
    sys.exit('metadata differs: %s vs %s' % (ha.get('__metadata__'), hb.get('__metadata__')))
if sorted(ha) != sorted(hb):
    sys.exit('tensors differ: %s vs %s' % (sorted(ha), sorted(hb)))
dt = {'F32': np.float32, 'U8': np.uint8, 'I64': np.int64}
for k in ha:
    if k == '__metadata__': continue
    a, b = ha[k], hb[k]
    if a['dtype'] != b['dtype'] or a['shape'] != b['shape']:
        sys.exit('%s: %s %s vs %s %s' % (k, a['dtype'], a['shape'], b['dtype'], b['shape']))
    x = np.frombuffer(da[a['data_offsets'][0]:a['data_offsets'][1]], dt[a['dtype']]).astype(np.float64)
    y = np.frombuffer(db[b['data_offsets'][0]:b['data_offsets'][1]], dt[b['dtype']]).astype(np.float64)
    if sys.argv[4] and re.search(sys.argv[4], k): continue
    err = float(np.abs(x - y).max()) if x.size else 0.0
    if err > tol:
        sys.exit('%s: max difference %g > %g' % (k, err, tol))
PYEOF
}
