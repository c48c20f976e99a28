#!/usr/bin/env bash
# Soak test of the live service: `edge run` with STREAMS looping copies of data/vtest.avi (10 fps each, as cameras),
# an anomaly model, retention with a small disk budget and MQTT delivery to a local mosquitto, for MINUTES. Every 30 s
# it samples the process's RSS, open files and threads and the disk the events use; at the end it prints the growth
# from minute 5 (or half the run, when shorter) to the end and a verdict: RSS growth <= 5 %, open files and threads
# flat, disk within the retention budget, every event stored and delivered. Then it kills the service with SIGKILL
# while an event's clip is being recorded, starts it again and checks that no orphan file is left, every stored event
# is whole (its snapshot and a complete clip exist) and the outbox resumes (everything pending is delivered).
#
#   scripts/soak.sh [MINUTES] [STREAMS]      defaults 30 and 4; SOAK_MINUTES=2 overrides MINUTES (CI: a few minutes)
#   SOAK_BUDGET_MB (default 40), SOAK_DIR (default a new folder under /tmp, kept), SOAK_NICE (default 10)
#
# The anomaly model is models/soak-anomaly.onnx, learned once (under a minute) with `edge learn` on vtest.avi's first
# 400 frames, the default anomaly model a camera learns. Everything listens on 127.0.0.1 only. Exit code 0 when every check passes.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${SOAK_MINUTES:-${1:-30}}
streams=${2:-4}
budget_mb=${SOAK_BUDGET_MB:-40}
interval=30
root=$PWD
edge=$root/Host/bin/Release/net10.0/edge
[[ -x $edge ]] || scripts/setup.sh >/dev/null
nice=(nice -n "${SOAK_NICE:-10}")
work=${SOAK_DIR:-$(mktemp -d /tmp/edge-soak.XXXXXX)}
mkdir -p "$work/logs"
data_dir=$(realpath data)
video=$data_dir/vtest.avi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

model=$root/models/soak-anomaly.onnx
if [[ ! -f $model ]]; then
  echo "learning the soak's anomaly model from vtest.avi's first 400 frames -> $model"
  ffmpeg -hide_banner -loglevel error -nostdin -y -i "$video" -frames:v 400 -c copy "$work/vtest-400.avi"
  "${nice[@]}" "$edge" learn "$work/vtest-400.avi" --out "$model" > "$work/logs/train.txt" 2>&1 \
    || { tail -5 "$work/logs/train.txt"; exit 1; }
fi

broker_port=$(free_port)
web_port=$(free_port)
cat > "$work/mosquitto.conf" <<EOF
listener $broker_port 127.0.0.1
allow_anonymous true
persistence true
persistence_location $work/
user $(id -un)
log_dest file $work/logs/mosquitto.log
EOF
/usr/sbin/mosquitto -c "$work/mosquitto.conf" 2>> "$work/logs/mosquitto.log" & pids+=($!)
sleep 1
if command -v mosquitto_sub >/dev/null; then
  # A persistent subscriber: what the broker acknowledged reaches it even across the service's restarts.
  mosquitto_sub -h 127.0.0.1 -p "$broker_port" -t 'edge/#' -q 1 -c -i edge-soak-subscriber > "$work/received.jsonl" & pids+=($!)
fi

python3 - "$work" "$streams" "$video" "$data_dir" "$model" "$broker_port" "$web_port" "$budget_mb" <<'EOF'
import json, sys
work, streams, video, data_dir, model, broker, web, budget = sys.argv[1:]
config = {
    "Logging": {"File": f"{work}/logs/edge-.log", "FileLevel": "Information"},
    "Sources": {"FileRoots": [data_dir]},
    "Analysis": {"AnomalyModel": model},
    # Events of at most 20 s, so long anomalies are cut and stored while they go on.
    "Events": {"MaxDurationMs": 20000},
    "Retention": {"MaxDiskMb": float(budget), "IntervalSeconds": 30},
    "Delivery": {"OutboxPath": f"{work}/outbox.db", "DeviceId": "soak",
                 "Mqtt": {"Enabled": True, "Host": "127.0.0.1", "Port": int(broker)}},
    "Web": {"Urls": f"http://127.0.0.1:{web}"},
    "Service": {"DataDirectory": f"{work}/data",
                "Streams": [{"Id": f"cam{i}", "Source": video, "Loop": True} for i in range(1, int(streams) + 1)]},
}
json.dump(config, open(f"{work}/edge.json", "w"), indent=2)
EOF

start_edge() {  # $1: log name; sets edge_pid
  "${nice[@]}" "$edge" run --config "$work/edge.json" > "$work/logs/$1.out" 2> "$work/logs/$1.err" &
  edge_pid=$!
  pids+=("$edge_pid")
  for _ in $(seq 1 600); do
    grep -q "Edge is running" "$work/logs/$1.err" && return 0
    kill -0 "$edge_pid" 2>/dev/null || { echo "edge run ended during start-up:"; tail -5 "$work/logs/$1.err"; exit 1; }
    sleep 0.5
  done
  echo "edge run did not start within 5 minutes"; exit 1
}

sample() {  # seconds since start, then RSS kB, open files, threads, disk bytes, events stored, outbox pending
  local rss threads fds disk events pending
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$edge_pid/status")
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$edge_pid/status")
  fds=$(ls "/proc/$edge_pid/fd" | wc -l)
  disk=$(du -sb "$work/data" | cut -f1)
  events=$(curl -s "http://127.0.0.1:$web_port/api/streams" | python3 -c 'import json,sys; print(sum(s["events"] for s in json.load(sys.stdin)))' 2>/dev/null || echo -1)
  pending=$(sqlite3 "$work/outbox.db" "SELECT COUNT(*) FROM messages WHERE state = 'pending'" 2>/dev/null || echo -1)
  printf '%d\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$rss" "$fds" "$threads" "$disk" "$events" "$pending"
}

echo "soak: $streams looping stream(s) of vtest.avi for $minutes min, retention budget $budget_mb MB, samples every ${interval} s; work in $work"
start_edge run
started=$(date +%s)
printf 'seconds\trss_kb\topen_files\tthreads\tdisk_bytes\tevents\tpending\n' > "$work/samples.tsv"
end=$((started + minutes * 60))
while (( $(date +%s) < end )); do
  kill -0 "$edge_pid" 2>/dev/null || { echo "edge run ended during the soak:"; tail -5 "$work/logs/run.err"; exit 1; }
  sample $(( $(date +%s) - started )) | tee -a "$work/samples.tsv"
  sleep $(( interval - ($(date +%s) - started) % interval ))
done
sample $(( $(date +%s) - started )) | tee -a "$work/samples.tsv"
kill -TERM "$edge_pid"
run_exit=0
wait "$edge_pid" || run_exit=$?
cp "$work/logs/run.out" "$work/summary.txt"

# Kill -9 while an event's clip is being recorded, then start again.
start_edge after-kill-start
for _ in $(seq 1 600); do
  staging=$(ls "$work/data/events"/clip-*.avi 2>/dev/null || true)
  [[ -n $staging ]] && break
  sleep 0.5
done
kill -KILL "$edge_pid"
wait "$edge_pid" 2>/dev/null || true
echo "$staging" > "$work/staging-at-kill.txt"
start_edge after-kill
sleep 5
# The outbox resumes: what was pending (events flushed at the first stop, events stored before the kill) goes out.
for _ in $(seq 1 240); do
  pending=$(sqlite3 "$work/outbox.db" "SELECT COUNT(*) FROM messages WHERE state = 'pending'")
  (( pending == 0 )) && break
  sleep 0.5
done
sqlite3 "$work/outbox.db" "SELECT COUNT(*) FROM messages WHERE state = 'pending'" > "$work/pending-after-restart.txt"
# Orphans and wholeness are checked on a stopped service, so no clip is being recorded.
kill -TERM "$edge_pid"
final_exit=0
wait "$edge_pid" || final_exit=$?
sleep 2

python3 - "$work" "$minutes" "$budget_mb" "$run_exit" "$final_exit" <<'EOF'
import glob, json, os, re, sqlite3, statistics, struct, sys
work, minutes, budget_mb, run_exit, final_exit = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rows = [list(map(int, l.split("\t"))) for l in open(f"{work}/samples.tsv").read().splitlines()[1:]]
base_s = min(300, minutes * 30)
after = [r for r in rows if r[0] >= base_s] or rows[-1:]
def med(rs, i): return statistics.median(r[i] for r in rs)
first, last = after[:2], after[-3:]
rss0, rss1 = med(first, 1), med(last, 1)
fd0, fd1 = med(first, 2), med(last, 2)
th0, th1 = med(first, 3), med(last, 3)
disk_max = max(r[4] for r in rows if r[0] >= 60) if any(r[0] >= 60 for r in rows) else rows[-1][4]
budget = budget_mb * 1048576
# Between two retention passes (30 s) the streams add what they record; allow a quarter of the budget for that.
checks = []
def check(name, ok, detail): checks.append((name, ok, detail))
print(f"\n{'':<14}{'minute %.1f' % (after[0][0] / 60):>14}{'end (%.1f)' % (rows[-1][0] / 60):>14}{'growth':>10}")
print(f"{'RSS MB':<14}{rss0 / 1024:>14.1f}{rss1 / 1024:>14.1f}{(rss1 - rss0) / rss0 * 100:>9.1f}%")
print(f"{'open files':<14}{fd0:>14.0f}{fd1:>14.0f}{fd1 - fd0:>10.0f}")
print(f"{'threads':<14}{th0:>14.0f}{th1:>14.0f}{th1 - th0:>10.0f}")
print(f"{'disk MB':<14}{med(first, 4) / 1048576:>14.1f}{med(last, 4) / 1048576:>14.1f}{'max %.1f of %.0f' % (disk_max / 1048576, budget_mb):>24}")
check("RSS growth <= 5 %", rss1 <= rss0 * 1.05, f"{rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MB")
check("open files flat", fd1 <= fd0 + 5, f"{fd0:.0f} -> {fd1:.0f}")
check("threads flat", th1 <= th0 + 5, f"{th0:.0f} -> {th1:.0f}")
check("disk within the retention budget", disk_max <= budget * 1.25, f"max {disk_max / 1048576:.1f} MB, budget {budget_mb:.0f} MB")
check("edge run exits 0 on SIGTERM", run_exit == 0 and final_exit == 0, f"exit codes {run_exit}, {final_exit}")

events = os.path.join(work, "data", "events")
ids = []
for f in sorted(glob.glob(f"{events}/*.jsonl")):
    ids += [json.loads(l)["id"] for l in open(f) if l.strip()]
db = sqlite3.connect(os.path.join(work, "data", "events.db"))
stored = {r[0]: r[1:] for r in db.execute("SELECT id, snapshot, clip FROM events")}
deleted = 0
for f in glob.glob(f"{work}/logs/edge-*.log"):
    deleted += sum(int(m) for m in re.findall(r"Retention: deleted (\d+) event", open(f).read()))
outbox = sqlite3.connect(os.path.join(work, "outbox.db"))
queued = {r[0]: r[1] for r in outbox.execute("SELECT event_id, state FROM messages WHERE target = 'mqtt'")}
received = set()
if os.path.exists(f"{work}/received.jsonl"):
    for l in open(f"{work}/received.jsonl"):
        try:
            received.add(json.loads(l)["id"])
        except ValueError:
            pass
print(f"\nevents: {len(ids)} stored ({len(set(ids))} ids), {len(stored)} still in events.db, {deleted} deleted by retention; "
      f"outbox: {sum(s == 'delivered' for s in queued.values())} delivered, {sum(s == 'pending' for s in queued.values())} pending; "
      f"subscriber received {len(received)}")
check("every event stored once", len(ids) == len(set(ids)) and len(stored) + deleted == len(ids) and set(stored) <= set(ids),
      f"{len(ids)} in the JSON lines = {len(stored)} in the store + {deleted} deleted")
check("every event delivered", set(ids) <= set(k for k, s in queued.items() if s == "delivered") and (not received or set(ids) <= received),
      f"{len(set(ids) - set(k for k, s in queued.items() if s == 'delivered'))} not delivered, {len(set(ids) - received) if received else 'no subscriber'} not received")

def whole_avi(path):
    # A clip closed by its writer has the RIFF size of the file and an index; a killed writer leaves neither.
    with open(path, "rb") as f:
        head = f.read(12)
        size = os.path.getsize(path)
        f.seek(0)
        body = f.read()
    return head[:4] == b"RIFF" and head[8:12] == b"AVI " and struct.unpack("<I", head[4:8])[0] + 8 == size and b"idx1" in body
staging = open(f"{work}/staging-at-kill.txt").read().split()
names = {n for r in stored.values() for n in r if n}
files = set(os.listdir(events))
orphans = [f for f in files if (f.startswith("clip-") or f.endswith(".tmp") or (f.startswith("event-") and f not in names))]
broken = [i for i, (snap, clip) in stored.items() if (snap and snap not in files) or (clip and (clip not in files or not whole_avi(os.path.join(events, clip))))]
print(f"kill -9 while recording {len(staging)} clip(s): {len(orphans)} orphan file(s) after the restart, {len(broken)} stored event(s) not whole, "
      f"{open(f'{work}/pending-after-restart.txt').read().strip()} pending in the outbox after the restart")
check("no orphan files after kill -9", not orphans and all(not os.path.exists(s) for s in staging), ", ".join(orphans) or "none")
check("every stored event whole", not broken, ", ".join(broken[:5]) or f"{len(stored)} checked")
check("the outbox resumes after kill -9", open(f"{work}/pending-after-restart.txt").read().strip() == "0", "pending delivered after the restart")
print()
for name, ok, detail in checks:
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
print(f"\nsamples: {work}/samples.tsv; summary of the run: {work}/summary.txt; logs: {work}/logs")
sys.exit(0 if all(ok for _, ok, _ in checks) else 1)
EOF
