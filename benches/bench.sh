#!/usr/bin/env bash
# Benchmarks of issue 9, in the build users run (`cargo xtask`, cargo's dev
# profile), each against its peer on the same input, in one run:
#
#   pack     a jail of this host's own files (unbound, python3.11 with its
#            standard library, dig) with --binary --sysroot /, every
#            library file a `files` entry, against tar -czf, tar -I pigz and
#            tar --zstd over the same tree (jailpack's own uncompressed jail,
#            extracted); archive size against gzip -6 of the same tar;
#   big      a 128 MiB executable (peak memory);
#   closure  every dynamic ELF file in /usr/bin and /usr/sbin in one call,
#            against libtree;
#   no-op    `cargo xtask jail` with nothing changed, against cargo's own
#            no-op build of the daemon.
#
# Usage: bash benches/bench.sh   (RUNS=N for more runs; as root it installs
# what is missing with apt-get). Prints a Markdown table: medians, ratios
# and peak RSS (GNU time). The machine's load is printed first: run it on
# a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
runs=${RUNS:-5}
work=$repo/target/bench
mkdir -p "$work"

# --- tools and inputs -------------------------------------------------------
# hyperfine: the timings; time: GNU time's peak RSS; pigz, zstd: the peers;
# libtree: the closure peer; unbound, bind9-dnsutils (dig), python3.11: the
# jail's contents.
want=()
command -v hyperfine >/dev/null || want+=(hyperfine)
[ -x /usr/bin/time ] || want+=(time)
command -v pigz >/dev/null || want+=(pigz)
command -v zstd >/dev/null || want+=(zstd)
command -v libtree >/dev/null || want+=(libtree)
[ -x /usr/sbin/unbound ] || want+=(unbound)
[ -x /usr/bin/dig ] || want+=(bind9-dnsutils)
[ -x /usr/bin/python3.11 ] || want+=(python3.11)
if [ ${#want[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bench: missing ${want[*]}; install them (apt-get install ${want[*]})" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi

echo "machine: $(nproc) cores, load average:$(uptime | sed 's/.*load average://')"
echo "runs: $runs each, the closure 60 in six rounds (hyperfine, one warm-up)"

# What `cargo xtask` runs: the dev build of this workspace's xtask.
cargo build --quiet --locked --package xtask
xtask=$repo/target/debug/xtask

# The jail's settings: every file of python3.11's standard library a
# `files` entry, python3.11 and dig extra executables beside unbound.
python3 - "$work/jail.toml" <<'EOF'
import os, sys
files = []
for top, dirs, names in os.walk("/usr/lib/python3.11"):
    dirs.sort()
    for name in sorted(names):
        path = os.path.join(top, name)
        if os.path.isfile(path):
            files.append(path)
with open(sys.argv[1], "w") as out:
    out.write('name = "resolver"\nuser = "unbound"\n')
    out.write('executables = ["/usr/bin/python3.11", "/usr/bin/dig"]\n')
    out.write("files = [\n")
    for path in files:
        out.write('    { source = "%s", dest = "%s" },\n' % (path, path))
    out.write("]\n")
EOF
pack=("$xtask" jail --binary /usr/sbin/unbound --settings "$work/jail.toml" --version 1 --sysroot /)

# The same tree for tar: jailpack's own uncompressed jail, extracted.
rm -rf "$work/none" "$work/tree"
"${pack[@]}" --compression none --out-dir "$work/none" 2>/dev/null
mkdir -p "$work/tree"
tar -xpf "$work"/none/*.tar -C "$work/tree"
tree_bytes=$(du -sb "$work/tree" | cut -f1)
tree_files=$(find "$work/tree" -type f | wc -l)
echo "jail: $tree_files files, $((tree_bytes / 1000000)) MB"

# A 128 MiB executable: dig's ELF file with code after it (python's).
big=$work/big/bigd
if [ ! -f "$big" ]; then
    mkdir -p "$work/big"
    # (A bounded loop: once head has its 128 MiB, each cat dies of SIGPIPE.)
    { cat /usr/bin/dig; for _ in $(seq 24); do cat /usr/bin/python3.11; done; } 2>/dev/null |
        head -c $((128 << 20)) >"$big" || true
    chmod 755 "$big"
    printf 'name = "bigd"\nuser = "bigd"\n' >"$work/big/jail.toml"
fi

# Every dynamic ELF file (one with PT_INTERP) in /usr/bin and /usr/sbin.
python3 - "$work/elf.list" <<'EOF'
import os, struct, sys
out = []
for top in ("/usr/bin", "/usr/sbin"):
    for name in sorted(os.listdir(top)):
        path = os.path.join(top, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        try:
            with open(path, "rb") as f:
                head = f.read(64)
                if head[:4] != b"\x7fELF" or head[4] != 2:
                    continue
                phoff, = struct.unpack_from("<Q", head, 32)
                phentsize, phnum = struct.unpack_from("<HH", head, 54)
                f.seek(phoff)
                table = f.read(phentsize * phnum)
        except OSError:
            continue
        if any(struct.unpack_from("<I", table, i * phentsize)[0] == 3 for i in range(phnum)):
            out.append(path)
open(sys.argv[1], "w").write("\n".join(out) + "\n")
EOF
mapfile -t elves <"$work/elf.list"
# Those whose closure both tools make (a host may hold a program that needs
# a library it lacks; libtree gives up on systemd's tools' RUNPATH chain):
# both get the same list.
kept=()
for f in "${elves[@]}"; do
    "$xtask" jail closure "$f" >/dev/null 2>&1 && libtree "$f" >/dev/null 2>&1 && kept+=("$f")
done
elves=("${kept[@]}")
echo "closure: ${#elves[@]} dynamic ELF files in /usr/bin and /usr/sbin"

# --- timings ----------------------------------------------------------------
median() { # hyperfine JSON, command index -> median seconds
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["median"])' "$1" "$2"
}
hf() { # name, commands...
    local name=$1
    shift
    hyperfine --style none --warmup 1 --runs "$runs" --export-json "$work/$name.json" "$@" >/dev/null
}
peak() { # command... -> peak RSS in MiB
    /usr/bin/time -f '%M' -o "$work/rss" "$@" >/dev/null 2>&1
    echo $(($(cat "$work/rss") / 1024))
}

out=$work/out
q() { printf '%q ' "$@"; }
hf pack \
    "rm -rf $out/gz && $(q "${pack[@]}") --out-dir $out/gz" \
    "tar -czf $work/tar.tar.gz -C $work/tree ." \
    "tar -I pigz -cf $work/pigz.tar.gz -C $work/tree ." \
    "rm -rf $out/zst && $(q "${pack[@]}") --compression zstd --out-dir $out/zst" \
    "tar --zstd -cf $work/tar.tar.zst -C $work/tree ."
hf big "rm -rf $out/big && $(q "$xtask") jail --binary $big --settings $work/big/jail.toml --version 1 --out-dir $out/big"
# Tens of milliseconds each, on machines whose speed drifts from one
# second to the next: six rounds of 10 runs of each (60 in all),
# which goes first alternating, the medians taken over every run.
closure_ours="$(q "$xtask") jail closure $(q "${elves[@]}")"
closure_peer="libtree $(q "${elves[@]}")"
for round in 1 2 3 4 5 6; do
    if [ $((round % 2)) -eq 1 ]; then
        runs=10 hf "closure$round" "$closure_ours" "$closure_peer"
    else
        runs=10 hf "closure$round" "$closure_peer" "$closure_ours"
    fi
done
# The no-op: the demo's jail made once, then again with nothing changed.
cargo xtask jail --locked --out-dir "$out/noop" >/dev/null 2>&1
hf noop "cargo xtask jail --locked --out-dir $out/noop" "cargo build --locked --release --package daytimed"

rss_pack=$(peak "${pack[@]}" --out-dir "$out/rss")
rss_zstd=$(peak "${pack[@]}" --compression zstd --out-dir "$out/rss")
rss_big=$(peak "$xtask" jail --binary "$big" --settings "$work/big/jail.toml" --version 1 --out-dir "$out/rss")
rss_closure=$(peak "$xtask" jail closure "${elves[@]}")
rss_libtree=$(peak libtree "${elves[@]}")

size() { stat -c %s "$1"; }
jail_gz=$(size "$out"/gz/*.tar.gz)
gzip6=$(gzip -6 -c "$work"/none/*.tar | wc -c)
jail_zst=$(size "$out"/zst/*.tar.zst)
zstd3=$(size "$work/tar.tar.zst")

# --- the table --------------------------------------------------------------
python3 - "$work" "$rss_pack" "$rss_zstd" "$rss_big" "$rss_closure" "$rss_libtree" \
    "$jail_gz" "$gzip6" "$jail_zst" "$zstd3" <<'EOF'
import json, statistics, sys
work = sys.argv[1]
rss_pack, rss_zstd, rss_big, rss_closure, rss_libtree = map(int, sys.argv[2:7])
jail_gz, gzip6, jail_zst, zstd3 = map(int, sys.argv[7:11])
def med(name):
    return [r["median"] for r in json.load(open(f"{work}/{name}.json"))["results"]]
pack, tar_gz, pigz, pack_zst, tar_zst = med("pack")
(big,) = med("big")
def pooled(prefix, rounds):
    # Every run of every round, by whether it was libtree's.
    times = {False: [], True: []}
    for n in range(1, rounds + 1):
        for r in json.load(open(f"{work}/{prefix}{n}.json"))["results"]:
            times[r["command"].startswith("libtree ")] += r["times"]
    return statistics.median(times[False]), statistics.median(times[True])
closure, libtree = pooled("closure", 6)
noop, cargo_noop = med("noop")
rows = []
def row(work, ours, peer, ratio, target, met, rss=""):
    rows.append(f"| {work} | {ours} | {peer} | {ratio} | {target} | {'yes' if met else '**no**'} | {rss} |")
row("pack, gzip, vs `tar -czf`", f"{pack:.2f} s", f"{tar_gz:.2f} s", f"{pack / tar_gz:.2f}×", "≤ 0.35×", pack / tar_gz <= 0.35, f"{rss_pack} MiB")
row("pack, gzip, vs `tar -I pigz`", f"{pack:.2f} s", f"{pigz:.2f} s", f"{pack / pigz:.2f}×", "≤ 0.8×", pack / pigz <= 0.8)
row("archive size vs `gzip -6`", f"{jail_gz / 1e6:.1f} MB", f"{gzip6 / 1e6:.1f} MB", f"{jail_gz / gzip6:.3f}×", "≤ 1.03×", jail_gz / gzip6 <= 1.03)
row("pack, zstd, vs `tar --zstd`", f"{pack_zst:.2f} s", f"{tar_zst:.2f} s", f"{pack_zst / tar_zst:.2f}×", "≤ 1.0×", pack_zst / tar_zst <= 1.0, f"{rss_zstd} MiB")
row("zstd archive size vs `zstd -3`", f"{jail_zst / 1e6:.1f} MB", f"{zstd3 / 1e6:.1f} MB", f"{jail_zst / zstd3:.3f}×", "—", True)
row("peak RSS, the big jail", f"{rss_pack} MiB", "—", "—", "≤ 32 MiB", rss_pack <= 32)
row("jail a 128 MiB executable", f"{big:.2f} s", "—", "—", "≤ 32 MiB RSS", rss_big <= 32, f"{rss_big} MiB")
row("closure of /usr/bin + /usr/sbin vs libtree", f"{closure * 1e3:.1f} ms", f"{libtree * 1e3:.1f} ms", f"{closure / libtree:.2f}×", "≤ 1.0×", closure / libtree <= 1.0, f"{rss_closure} / {rss_libtree} MiB")
row("no-op `cargo xtask jail` vs cargo's no-op", f"{noop:.2f} s", f"{cargo_noop:.2f} s", f"+{noop - cargo_noop:.2f} s", "≤ +0.5 s", noop - cargo_noop <= 0.5)
print("| work | jailpack (dev build) | peer | ratio | target | met | peak RSS |")
print("|---|---|---|---|---|---|---|")
print("\n".join(rows))
EOF
