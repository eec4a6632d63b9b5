// ClrmdOracle: an independent second oracle for dumpscope's heap walker.
//
// Usage: ClrmdOracle <dump> [--dac PATH] [--ignore-mismatch] [--careful] [--symbol-server]
//
// Loads a Linux ELF core dump of a .NET process with ClrMD
// (Microsoft.Diagnostics.Runtime), walks the GC heap with
// ClrHeap.EnumerateObjects() and prints one JSON document on stdout:
//
//   clrmd_version, runtime_version, dac_path, can_walk_heap, server_gc,
//   heap_count, segments[], generations{} (objects per generation), types[] (sorted by method
//   table), free{}, invalid{}, threads[] (address, os_id, managed_id, alive, finalizer, state),
//   object_count, total_size, elapsed_ms.
//
// Sizes are ClrObject.Size: NOT rounded up to pointer alignment (a string of
// n chars is 22+2n bytes), like SOS's !dumpheap; "total_size_aligned" gives the
// sum rounded up per object to the pointer size (the heap stride).
//
// Free objects are counted both under their own type (ClrMD names it "Free")
// in "types" and in "free".  object_count/total_size include free objects;
// live_object_count/live_total_size exclude them.
//
// Diagnostics go to stderr; exit code 0 on success, 1 on usage errors,
// 2 when the dump or the runtime cannot be opened.

using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using Microsoft.Diagnostics.Runtime;

internal static class Program
{
    private sealed class TypeStat
    {
        public string Name = "";
        public bool IsFree;
        public long Count;
        public ulong TotalSize;
        public ulong TotalSizeAligned;
    }

    private sealed class SegStat
    {
        public long Count;
        public ulong TotalSize;
        public ulong TotalSizeAligned;
    }

    private static int Main(string[] args)
    {
        string? dump = null;
        string? dac = null;
        bool ignoreMismatch = false;
        bool careful = false;
        bool symbolServer = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--dac":
                    if (++i >= args.Length) return Usage("--dac needs a path");
                    dac = args[i];
                    break;
                case "--ignore-mismatch": ignoreMismatch = true; break;
                case "--careful": careful = true; break;
                case "--symbol-server": symbolServer = true; break;
                case "-h":
                case "--help":
                    Usage(null);
                    return 0;
                default:
                    if (args[i].StartsWith("--")) return Usage($"unknown option {args[i]}");
                    if (dump != null) return Usage("more than one dump given");
                    dump = args[i];
                    break;
            }
        }
        if (dump == null) return Usage("no dump given");
        if (!File.Exists(dump)) { Console.Error.WriteLine($"ClrmdOracle: no such file: {dump}"); return 2; }
        if (dac != null && !File.Exists(dac)) { Console.Error.WriteLine($"ClrmdOracle: no such DAC: {dac}"); return 2; }

        var sw = Stopwatch.StartNew();
        DataTarget dt;
        try
        {
            var opts = new DataTargetOptions();
            // No symbol server unless asked: the machines have no internet and
            // a lookup there only costs time.
            if (!symbolServer) opts.SymbolPaths = Array.Empty<string>();
            dt = DataTarget.LoadDump(dump, opts);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"ClrmdOracle: cannot load dump {dump}: {e.GetType().Name}: {e.Message}");
            return 2;
        }

        using (dt)
        {
            if (dt.ClrVersions.Length == 0)
            {
                Console.Error.WriteLine("ClrmdOracle: no CLR runtime found in the dump");
                return 2;
            }
            ClrInfo clr = dt.ClrVersions[0];
            if (dt.ClrVersions.Length > 1)
                Console.Error.WriteLine($"ClrmdOracle: warning: {dt.ClrVersions.Length} runtimes in dump, using the first ({clr.Version})");

            // ClrMD reads the runtime version from the "@(#)Version ..." string
            // in libcoreclr's first writable PT_LOAD segment.  In .NET 10's
            // libcoreclr that string sits in the second one (.data after
            // .data.rel.ro), so ClrInfo.Version comes back as 0.0 and
            // CreateRuntime(dacPath) rejects every DAC as mismatched.  Scan the
            // whole module image ourselves in that case.
            string runtimeVersion = clr.Version.ToString();
            string versionSource = "clrmd";
            string? runtimeCommit = null;
            if (clr.Version.Major == 0)
            {
                var scanned = ScanModuleVersion(dt, clr.ModuleInfo);
                if (scanned != null)
                {
                    (runtimeVersion, runtimeCommit) = scanned.Value;
                    versionSource = "sccsid-scan";
                }
                else if (LocalFileVersionIfSameBuild(clr.ModuleInfo) is { } local)
                {
                    // Heap dumps (createdump -h) leave out libcoreclr's .data;
                    // if the same libcoreclr (same GNU build id) is on this
                    // disk, read the version string from the file instead.
                    (runtimeVersion, runtimeCommit) = local;
                    versionSource = "local-file-same-build-id";
                }
                else
                {
                    versionSource = "unknown";
                }
            }

            ClrRuntime runtime;
            string dacUsed;
            try
            {
                (runtime, dacUsed) = CreateRuntime(clr, dac, ignoreMismatch, versionSource == "unknown" ? null : runtimeVersion);
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"ClrmdOracle: cannot create runtime (DAC): {e.GetType().Name}: {e.Message}");
                Console.Error.WriteLine("ClrmdOracle: try --dac /usr/share/dotnet/shared/Microsoft.NETCore.App/<version>/libmscordaccore.so");
                return 2;
            }

            using (runtime)
            {
                Emit(dt, clr, runtime, dacUsed, runtimeVersion, versionSource, runtimeCommit, careful, sw);
            }
        }
        return 0;
    }

    private static int Usage(string? error)
    {
        if (error != null) Console.Error.WriteLine($"ClrmdOracle: {error}");
        Console.Error.WriteLine("usage: ClrmdOracle <dump> [--dac PATH] [--ignore-mismatch] [--careful] [--symbol-server]");
        return error == null ? 0 : 1;
    }

    // Explicit --dac wins.  Otherwise prefer a DAC on local disk next to the
    // runtime the dump names (same machine: ClrMD lists it first), then the
    // runtime of the same version installed here, and only then ClrMD's own
    // search.  The version check is ours (see Main): a DAC is accepted when its
    // "@(#)Version" string equals the dump runtime's, or when either is unknown
    // (with a warning), or always under --ignore-mismatch.
    private static (ClrRuntime, string) CreateRuntime(ClrInfo clr, string? dac, bool ignoreMismatch, string? runtimeVersion)
    {
        var candidates = new List<string>();
        if (dac != null)
        {
            candidates.Add(Path.GetFullPath(dac));
        }
        else
        {
            foreach (var lib in clr.DebuggingLibraries)
                if (lib.Kind == DebugLibraryKind.Dac && lib.Platform == System.Runtime.InteropServices.OSPlatform.Linux
                    && !string.IsNullOrEmpty(lib.FileName))
                    candidates.Add(lib.FileName);
            string? moduleDir = Path.GetDirectoryName(clr.ModuleInfo.FileName);
            if (!string.IsNullOrEmpty(moduleDir))
                candidates.Add(Path.Combine(moduleDir, "libmscordaccore.so"));
            // Installed runtimes: pick any whose DAC carries the same version string.
            var roots = new List<string> { "/usr/share/dotnet", "/usr/lib/dotnet" };
            string? dotnetRoot = Environment.GetEnvironmentVariable("DOTNET_ROOT");
            if (!string.IsNullOrEmpty(dotnetRoot)) roots.Insert(0, dotnetRoot);
            if (runtimeVersion != null)
                foreach (var root in roots)
                {
                    string shared = Path.Combine(root, "shared", "Microsoft.NETCore.App");
                    if (Directory.Exists(shared))
                        foreach (var d in Directory.GetDirectories(shared).OrderBy(x => x))
                            candidates.Add(Path.Combine(d, "libmscordaccore.so"));
                }
        }

        bool debug = Environment.GetEnvironmentVariable("CLRMD_ORACLE_DEBUG") == "1";
        if (debug)
        {
            Console.Error.WriteLine($"ClrmdOracle: clrmd version {clr.Version}, scanned {runtimeVersion ?? "?"}, module {clr.ModuleInfo.FileName}");
            foreach (var lib in clr.DebuggingLibraries)
                Console.Error.WriteLine($"ClrmdOracle:   debug lib {lib.Kind} {lib.Platform} {lib.FileName}");
        }

        var errors = new List<string>();
        foreach (var c in candidates.Distinct())
        {
            if (!Path.IsPathRooted(c) || !File.Exists(c))
            {
                if (dac != null) throw new FileNotFoundException(c);
                continue;
            }
            string? dacVersion = ScanFileVersion(c)?.Version;
            if (debug) Console.Error.WriteLine($"ClrmdOracle:   candidate {c} version {dacVersion ?? "?"}");
            if (!ignoreMismatch)
            {
                if (runtimeVersion != null && dacVersion != null && dacVersion != runtimeVersion)
                {
                    string msg = $"{c}: DAC version {dacVersion} != dump runtime {runtimeVersion}";
                    errors.Add(msg);
                    if (dac != null)
                        throw new InvalidOperationException(msg + " (use --ignore-mismatch to force)");
                    continue;
                }
                if (runtimeVersion == null || dacVersion == null)
                    Console.Error.WriteLine($"ClrmdOracle: warning: cannot check DAC version ({c}: {dacVersion ?? "?"}, dump: {runtimeVersion ?? "?"})");
            }
            try
            {
                return (clr.CreateRuntime(c, ignoreMismatch: true), c);
            }
            catch (Exception e)
            {
                if (dac != null) throw;
                errors.Add($"{c}: {e.Message}");
                Console.Error.WriteLine($"ClrmdOracle: warning: DAC {c} failed: {e.GetType().Name}: {e.Message}");
            }
        }
        try
        {
            return (clr.CreateRuntime(), "(clrmd search)");
        }
        catch (Exception e)
        {
            errors.Add($"clrmd search: {e.Message}");
            throw new InvalidOperationException(string.Join("; ", errors), e);
        }
    }

    private static string Hex(ulong v) => "0x" + v.ToString("x");

    private static string KindName(GCSegmentKind k) => k switch
    {
        GCSegmentKind.Generation0 => "Gen0",
        GCSegmentKind.Generation1 => "Gen1",
        GCSegmentKind.Generation2 => "Gen2",
        GCSegmentKind.Large => "Large",
        GCSegmentKind.Pinned => "Pinned",
        GCSegmentKind.Frozen => "Frozen",
        GCSegmentKind.Ephemeral => "Ephemeral",
        _ => k.ToString(),
    };

    // the names dumpscope's ds_gen_name uses
    private static string GenName(Generation g) => g switch
    {
        Generation.Generation0 => "gen0",
        Generation.Generation1 => "gen1",
        Generation.Generation2 => "gen2",
        Generation.Large => "loh",
        Generation.Pinned => "poh",
        Generation.Frozen => "frozen",
        _ => "unknown",
    };

    private static readonly byte[] s_sccsid = "@(#)Version "u8.ToArray();

    // Parses "@(#)Version 10.0.1226.42308 @Commit: 95017c71..." into (version, commit).
    private static (string Version, string? Commit)? ParseSccsid(ReadOnlySpan<byte> buf)
    {
        int end = buf.IndexOf((byte)0);
        if (end < 0) end = buf.Length;
        string text = System.Text.Encoding.ASCII.GetString(buf.Slice(0, end));
        string[] parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0 || !Version.TryParse(parts[0], out _)) return null;
        string? commit = null;
        int ci = Array.IndexOf(parts, "@Commit:");
        if (ci >= 0 && ci + 1 < parts.Length) commit = parts[ci + 1];
        return (parts[0], commit);
    }

    private static (string Version, string? Commit)? ScanModuleVersion(DataTarget dt, ModuleInfo module)
    {
        const int chunk = 1 << 20;
        int overlap = s_sccsid.Length + 128;
        var buf = new byte[chunk + overlap];
        ulong start = module.ImageBase;
        ulong end = start + (ulong)Math.Max(module.ImageSize, 0);
        for (ulong a = start; a < end; a += chunk)
        {
            int want = (int)Math.Min((ulong)buf.Length, end - a + (ulong)overlap);
            int got = dt.DataReader.Read(a, buf.AsSpan(0, want));
            if (got <= 0) continue;
            var span = buf.AsSpan(0, got);
            int idx = span.IndexOf(s_sccsid);
            if (idx >= 0)
            {
                var r = ParseSccsid(span.Slice(idx + s_sccsid.Length));
                if (r != null) return r;
            }
        }
        return null;
    }

    private static (string Version, string? Commit)? LocalFileVersionIfSameBuild(ModuleInfo module)
    {
        try
        {
            if (module.BuildId.IsDefaultOrEmpty || !File.Exists(module.FileName)) return null;
            byte[]? id = ReadElfBuildId(module.FileName);
            if (id == null || !id.AsSpan().SequenceEqual(module.BuildId.AsSpan())) return null;
            return ScanFileVersion(module.FileName);
        }
        catch (Exception)
        {
            return null;
        }
    }

    // GNU build id (NT_GNU_BUILD_ID note) of a little-endian ELF64 file.
    private static byte[]? ReadElfBuildId(string path)
    {
        using var f = File.OpenRead(path);
        var hdr = new byte[64];
        if (f.Read(hdr, 0, 64) != 64 || hdr[0] != 0x7f || hdr[1] != (byte)'E' || hdr[4] != 2 || hdr[5] != 1) return null;
        ulong phoff = BitConverter.ToUInt64(hdr, 32);
        int phentsize = BitConverter.ToUInt16(hdr, 54), phnum = BitConverter.ToUInt16(hdr, 56);
        var ph = new byte[phentsize];
        for (int i = 0; i < phnum; i++)
        {
            f.Position = (long)phoff + i * phentsize;
            if (f.Read(ph, 0, phentsize) != phentsize) return null;
            if (BitConverter.ToUInt32(ph, 0) != 4 /* PT_NOTE */) continue;
            long off = (long)BitConverter.ToUInt64(ph, 8);
            int size = (int)Math.Min(BitConverter.ToUInt64(ph, 32), 1 << 16);
            var notes = new byte[size];
            f.Position = off;
            if (f.Read(notes, 0, size) != size) continue;
            int p = 0;
            while (p + 12 <= size)
            {
                int namesz = BitConverter.ToInt32(notes, p), descsz = BitConverter.ToInt32(notes, p + 4), type = BitConverter.ToInt32(notes, p + 8);
                int name = p + 12, desc = name + ((namesz + 3) & ~3);
                if (namesz < 0 || descsz < 0 || desc + descsz > size) break;
                if (type == 3 && namesz == 4 && notes.AsSpan(name, 4).SequenceEqual("GNU\0"u8))
                    return notes.AsSpan(desc, descsz).ToArray();
                p = desc + ((descsz + 3) & ~3);
            }
        }
        return null;
    }

    private static (string Version, string? Commit)? ScanFileVersion(string path)
    {
        try
        {
            byte[] data = File.ReadAllBytes(path);
            int idx = data.AsSpan().IndexOf(s_sccsid);
            if (idx < 0) return null;
            return ParseSccsid(data.AsSpan(idx + s_sccsid.Length, Math.Min(128, data.Length - idx - s_sccsid.Length)));
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static void Emit(DataTarget dt, ClrInfo clr, ClrRuntime runtime, string dacUsed,
                             string runtimeVersion, string versionSource, string? runtimeCommit, bool careful, Stopwatch sw)
    {
        ClrHeap heap = runtime.Heap;

        var types = new Dictionary<ulong, TypeStat>();
        var segStats = new Dictionary<ulong, SegStat>();
        var genStats = new Dictionary<string, SegStat>();   // by ClrSegment.GetGeneration of each object
        long objectCount = 0, freeCount = 0, invalidCount = 0;
        ulong totalSize = 0, freeSize = 0, totalAligned = 0;
        ulong align = (ulong)dt.DataReader.PointerSize - 1;
        var invalidSamples = new List<ulong>();

        ClrSegment? lastSeg = null;
        SegStat? lastStat = null;
        foreach (ClrObject obj in heap.EnumerateObjects(careful))
        {
            ClrType? type = obj.Type;
            if (type == null)
            {
                invalidCount++;
                if (invalidSamples.Count < 20) invalidSamples.Add(obj.Address);
                continue;
            }
            ulong size = obj.Size;          // unaligned, as SOS !dumpheap reports it
            ulong aligned = (size + align) & ~align;
            objectCount++;
            totalSize += size;
            totalAligned += aligned;
            bool isFree = obj.IsFree;
            if (isFree) { freeCount++; freeSize += size; }

            if (!types.TryGetValue(type.MethodTable, out var ts))
            {
                ts = new TypeStat { Name = type.Name ?? $"<unknown type {Hex(type.MethodTable)}>", IsFree = type.IsFree };
                types.Add(type.MethodTable, ts);
            }
            ts.Count++;
            ts.TotalSize += size;
            ts.TotalSizeAligned += aligned;

            if (lastSeg == null || obj.Address < lastSeg.Start || obj.Address >= lastSeg.End)
            {
                lastSeg = heap.GetSegmentByAddress(obj.Address);
                lastStat = null;
                if (lastSeg != null && !segStats.TryGetValue(lastSeg.Address, out lastStat))
                    segStats.Add(lastSeg.Address, lastStat = new SegStat());
            }
            if (lastStat != null) { lastStat.Count++; lastStat.TotalSize += size; lastStat.TotalSizeAligned += aligned; }
            string gen = lastSeg == null ? "unknown" : GenName(lastSeg.GetGeneration(obj.Address));
            if (!genStats.TryGetValue(gen, out var gs)) genStats.Add(gen, gs = new SegStat());
            gs.Count++; gs.TotalSize += size; gs.TotalSizeAligned += aligned;
        }
        sw.Stop();

        var asm = typeof(DataTarget).Assembly;
        string clrmdInfo = asm.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "";
        string clrmdVersion = clrmdInfo.Split('+')[0];

        using var stdout = Console.OpenStandardOutput();
        using var w = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("clrmd_version", clrmdVersion);
        w.WriteString("clrmd_informational_version", clrmdInfo);
        w.WriteString("runtime_version", runtimeVersion);
        w.WriteString("runtime_version_source", versionSource);
        if (runtimeCommit != null) w.WriteString("runtime_commit", runtimeCommit);
        w.WriteString("clrmd_runtime_version", clr.Version.ToString());
        w.WriteString("runtime_module", clr.ModuleInfo.FileName);
        w.WriteString("dac_path", dacUsed);
        w.WriteNumber("pointer_size", dt.DataReader.PointerSize);
        w.WriteBoolean("can_walk_heap", heap.CanWalkHeap);
        w.WriteBoolean("server_gc", heap.IsServer);
        w.WriteNumber("heap_count", heap.SubHeaps.Length);
        w.WriteBoolean("regions", heap.SubHeaps.Length > 0 && heap.SubHeaps[0].HasRegions);
        w.WriteBoolean("careful_walk", careful);

        w.WriteStartArray("segments");
        foreach (ClrSegment seg in heap.Segments.OrderBy(s => s.Start))
        {
            segStats.TryGetValue(seg.Address, out var st);
            w.WriteStartObject();
            w.WriteString("start", Hex(seg.Start));
            w.WriteString("end", Hex(seg.End));
            w.WriteString("kind", KindName(seg.Kind));
            w.WriteNumber("heap", seg.SubHeap.Index);
            w.WriteString("address", Hex(seg.Address));
            w.WriteString("first_object", Hex(seg.FirstObjectAddress));
            w.WriteString("committed_end", Hex(seg.CommittedMemory.End));
            w.WriteString("reserved_end", Hex(seg.ReservedMemory.End));
            w.WriteString("flags", seg.Flags.ToString());
            w.WriteNumber("object_count", st?.Count ?? 0);
            w.WriteNumber("total_size", st?.TotalSize ?? 0);
            w.WriteNumber("total_size_aligned", st?.TotalSizeAligned ?? 0);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        // objects (free ones included) per generation, as ClrSegment.GetGeneration places each one
        w.WriteStartObject("generations");
        foreach (var (gen, gs) in genStats.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            w.WriteStartObject(gen);
            w.WriteNumber("object_count", gs.Count);
            w.WriteNumber("total_size", gs.TotalSize);
            w.WriteEndObject();
        }
        w.WriteEndObject();

        w.WriteStartArray("types");
        foreach (var (mt, ts) in types.OrderBy(kv => kv.Key))
        {
            w.WriteStartObject();
            w.WriteString("name", ts.Name);
            w.WriteString("mt", Hex(mt));
            w.WriteNumber("count", ts.Count);
            w.WriteNumber("total_size", ts.TotalSize);
            w.WriteNumber("total_size_aligned", ts.TotalSizeAligned);
            if (ts.IsFree) w.WriteBoolean("free", true);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        w.WriteStartObject("free");
        w.WriteNumber("count", freeCount);
        w.WriteNumber("total_size", freeSize);
        w.WriteString("type_name", heap.FreeType.Name);
        w.WriteString("mt", Hex(heap.FreeType.MethodTable));
        w.WriteEndObject();

        w.WriteStartObject("invalid");
        w.WriteNumber("count", invalidCount);
        w.WriteStartArray("sample_addresses");
        foreach (var a in invalidSamples) w.WriteStringValue(Hex(a));
        w.WriteEndArray();
        w.WriteEndObject();

        // The runtime's thread store, as ClrMD lists it (dumpscope's threads are compared to it).
        w.WriteStartArray("threads");
        foreach (ClrThread thread in runtime.Threads)
        {
            w.WriteStartObject();
            w.WriteString("address", Hex(thread.Address));
            w.WriteNumber("os_id", thread.OSThreadId);
            w.WriteNumber("managed_id", thread.ManagedThreadId);
            w.WriteBoolean("alive", thread.IsAlive);
            w.WriteBoolean("finalizer", thread.IsFinalizer);
            w.WriteString("state", Hex((ulong)(uint)thread.State));
            w.WriteEndObject();
        }
        w.WriteEndArray();

        w.WriteNumber("type_count", types.Count);
        w.WriteNumber("object_count", objectCount);
        w.WriteNumber("total_size", totalSize);
        w.WriteNumber("total_size_aligned", totalAligned);
        w.WriteNumber("live_object_count", objectCount - freeCount);
        w.WriteNumber("live_total_size", totalSize - freeSize);
        w.WriteNumber("elapsed_ms", sw.ElapsedMilliseconds);
        w.WriteEndObject();
        w.Flush();
        stdout.WriteByte((byte)'\n');
    }
}
