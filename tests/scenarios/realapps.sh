# realapps.sh: the real-application fixtures of make-fixtures.sh (sourced by it; see FIXTURES.md,
# "Real applications"). Two units, a heap dump each:
#
#   vbcs-idle    the Roslyn compiler server (VBCSCompiler) the SDK starts, idle after two builds of
#                a tiny project with shared compilation on. Nobody here wrote it: its truth is what
#                the script knows (pid, runtime, "healthy"), the rest comes from the ClrMD oracle.
#                The server is our own: the builds pass SharedCompilationId, so the compiler
#                client starts a server on a pipe of that name instead of using (or, later,
#                killing) the one other builds on the machine share.
#   aspnet-load  tests/scenarios/aspnet, a minimal-API Kestrel application dumped with requests in
#                flight (it writes its own truth).
#
# Uses from make-fixtures.sh: set_dir, outdir, timeout_s, live_pid, cleanup, die, now, secs, human.

realapps_units=("vbcs:idle:heap" "aspnet:load:heap")
realapps_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Lines for the fixture key: this script and the ASP.NET application's sources.
realapps_key() {
    echo "realapps $(sha256sum < "$realapps_dir/realapps.sh" | cut -c1-64)"
    (cd "$realapps_dir/aspnet" && find . -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.json' \) \
        -not -path './bin/*' -not -path './obj/*' | LC_ALL=C sort | while read -r f; do
            echo "aspnet $f $(sha256sum < "$f" | cut -c1-64)"
        done)
}

is_realapp() { [ "$1" = vbcs ] || [ "$1" = aspnet ]; }

# realapps_dump PID BASE KINDS: createdump of the runtime that PID runs (from its maps), per kind.
realapps_dump() {
    local pid="$1" base="$2" kinds="$3" coreclr createdump kind flag file t0 line=""
    coreclr="$(awk '$6 ~ /\/libcoreclr\.so$/ { print $6; exit }' "/proc/$pid/maps")"
    [ -n "$coreclr" ] || die "$base: process $pid has no libcoreclr.so mapped"
    createdump="$(dirname "$coreclr")/createdump"
    [ -x "$createdump" ] || die "$base: createdump not found next to $coreclr"
    for kind in $kinds; do
        case "$kind" in full) flag=-u ;; heap) flag=-h ;; *) die "unknown dump kind $kind" ;; esac
        file="$set_dir/$base-$kind.dmp"
        t0=$(now)
        if ! "$createdump" "$flag" -f "$file.partial" "$pid" >"$set_dir/$base-$kind.createdump.log" 2>&1; then
            cat "$set_dir/$base-$kind.createdump.log" >&2
            die "$base: createdump $flag failed for pid $pid (is ptrace allowed? see above)"
        fi
        [ -s "$file.partial" ] || die "$base: createdump wrote no $file.partial"
        mv -f "$file.partial" "$file"
        line="$line, $kind dump $(human "$(stat -c %s "$file")") in $(secs "$t0") s"
    done
    echo "$line"
}

# Two builds of a tiny project through our own compiler server, then a dump of the idle server.
realapps_vbcs() {
    local base="$1" kinds="$2" truth="$set_dir/$1.truth.json" log="$set_dir/$1.log"
    local proj="$outdir/vbcs-build" pipe="dsfx-vbcs-$$" pid="" n t0 dumped
    rm -rf "$proj" && mkdir -p "$proj"
    cat >"$proj/Tiny.csproj" <<'EOF'
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <UseAppHost>false</UseAppHost>
  </PropertyGroup>
</Project>
EOF
    : >"$log"
    for n in 1 2; do
        printf 'System.Console.WriteLine("build %s: " + string.Join(",", args));\n' "$n" >"$proj/Program.cs"
        t0=$(now)
        if ! dotnet build "$proj/Tiny.csproj" --nologo -nodeReuse:false -p:UseSharedCompilation=true \
                -p:SharedCompilationId="$pipe" >>"$log" 2>&1; then
            tail -20 "$log" >&2
            die "$base: build $n of the tiny project failed (log: $log)"
        fi
        # the client started the server on the first build; it must serve the second
        pid="$(pgrep -f -- "VBCSCompiler.* -pipename:$pipe\$" | head -1 || true)"
        [ -n "$pid" ] || die "$base: no VBCSCompiler with -pipename:$pipe after build $n (did the build compile in-process? log: $log)"
        live_pid=$pid
        echo "build $n: $(secs "$t0") s, server pid $pid" >>"$log"
    done
    sleep 1   # let the server finish its bookkeeping after the last compilation
    local coreclr
    coreclr="$(awk '$6 ~ /\/libcoreclr\.so$/ { print $6; exit }' "/proc/$pid/maps")"
    {
        echo "{"
        echo "  \"process\": \"vbcs\","
        echo "  \"variant\": \"idle\","
        echo "  \"pid\": $pid,"
        echo "  \"executable\": \"$(readlink "/proc/$pid/exe")\","
        echo "  \"runtime_version\": \"$(basename "$(dirname "$coreclr")")\","
        echo "  \"coreclr_path\": \"$coreclr\","
        echo "  \"pipe_name\": \"$pipe\","
        echo "  \"builds\": 2,"
        echo "  \"healthy\": true"
        echo "}"
    } >"$truth.tmp"
    mv -f "$truth.tmp" "$truth"
    dumped="$(realapps_dump "$pid" "$base" "$kinds")"
    echo "make-fixtures: $base: two builds$dumped"
}

# The Kestrel application: build it, run it until READY, dump it.
realapps_aspnet() {
    local base="$1" kinds="$2" truth="$set_dir/$1.truth.json" log="$set_dir/$1.log"
    local build="$outdir/aspnet-build" dll t0 pid dumped
    dll="$build/bin/AspNetScenario/release/AspNetScenario.dll"
    mkdir -p "$build"
    t0=$(now)
    if ! dotnet build "$realapps_dir/aspnet/AspNetScenario.csproj" -c Release --nologo --artifacts-path "$build" \
            >"$build/build.log" 2>&1; then
        tail -20 "$build/build.log" >&2
        die "$base: build of the ASP.NET application failed (log: $build/build.log)"
    fi
    [ -f "$dll" ] || die "$base: build succeeded but $dll is missing"
    echo "make-fixtures: $base: built in $(secs "$t0") s"
    t0=$(now)
    dotnet "$dll" "$truth" >"$log" 2>&1 </dev/null &
    pid=$!
    live_pid=$pid
    while ! grep -q '^READY ' "$log" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -30 "$log" >&2 || true
            die "$base: the application exited before it was ready (log: $log)"
        fi
        if awk -v a="$t0" -v b="$(now)" -v l="$timeout_s" 'BEGIN { exit !(b - a > l) }'; then
            tail -30 "$log" >&2 || true
            die "$base: no READY line within $timeout_s s (log: $log)"
        fi
        sleep 0.1
    done
    [ -s "$truth" ] || die "$base: READY but no truth file $truth"
    dumped="$(realapps_dump "$pid" "$base" "$kinds")"
    echo "make-fixtures: $base: ready in $(secs "$t0") s$dumped"
}

# One unit, all or nothing as make-fixtures.sh's own.
run_realapp_unit() {
    local process="$1" variant="$2" kinds="$3" base="$1-$2" t_unit
    rm -f "$set_dir/$base.done" "$set_dir/$base.truth.json" "$set_dir/$base"-*.dmp "$set_dir/$base"-*.dmp.partial
    t_unit=$(now)
    case "$process" in
        vbcs) realapps_vbcs "$base" "$kinds" ;;
        aspnet) realapps_aspnet "$base" "$kinds" ;;
        *) die "unknown real application $process" ;;
    esac
    cleanup
    : >"$set_dir/$base.done"
    echo "make-fixtures: $base: unit $(secs "$t_unit") s"
}

# The "realapps" list of fixtures.json (the scenario tests read "fixtures"; these have no scenario
# truth, so they are listed apart and only the real-application tests read them).
realapps_json() {
    local u p rest v kinds kind sep=""
    echo "  \"realapps\": ["
    for u in "${realapps_units[@]}"; do
        p="${u%%:*}"; rest="${u#*:}"; v="${rest%%:*}"; kinds="${rest#*:}"
        [ -f "$set_dir/$p-$v.done" ] || continue
        for kind in $kinds; do
            [ -f "$set_dir/$p-$v-$kind.dmp" ] || continue
            printf '%s    { "name": "%s", "process": "%s", "variant": "%s", "kind": "%s", "dump": "%s", "truth": "%s", "dump_size": %s }' \
                "$sep" "$p-$v-$kind" "$p" "$v" "$kind" "$p-$v-$kind.dmp" "$p-$v.truth.json" \
                "$(stat -c %s "$set_dir/$p-$v-$kind.dmp")"
            sep=$',\n'
        done
    done
    echo
    echo "  ],"
}
