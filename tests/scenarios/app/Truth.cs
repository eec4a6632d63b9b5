// The ground truth a scenario process writes once it is quiet (see ../FIXTURES.md).
// Scenarios register what they know during setup; everything that depends on where objects
// are (addresses, generations) is read only in Write, which runs inside a no-GC region.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Scenarios
{
    internal sealed class ThreadFact
    {
        public string Name = "";
        public int ManagedId;
        public int OsId;
        public string Role = "";          // what the thread is doing when the dump is taken
        public string BlockedIn = "";     // the scenario method on its stack where it is parked
    }

    internal sealed class LockFact
    {
        public string Name = "";
        public string Kind = "monitor";    // monitor | lock | rwlock | semaphore | event | barrier | countdown | join
        public Func<object> Get = null!;
        public string? HeldBy = "";        // null: nothing owns it (semaphore, event, barrier, countdown)
        public string? Writer;             // rwlock: the thread holding its write lock
        public string[] Waiters = Array.Empty<string>();
        public string? WaitMode;           // rwlock: how its waiters wait ("read" | "write")
    }

    internal sealed class MarkerSpec
    {
        public string Name = "";
        public string Heap = "soh";                 // soh | loh | poh | frozen
        public Func<object>? Get;                  // object reachable from the truth writer
        public Func<(IntPtr addr, int gen, string type, ulong size)>? Published; // held elsewhere
    }

    internal sealed class TypeSpec
    {
        public string Name = "";
        public long Count;
        public Func<IEnumerable<object>>? Instances;   // sizes summed over the live instances
        public Type? Fixed;                          // or count x instance size of this type
    }

    internal sealed class Truth
    {
        public readonly string Process;
        public readonly string Variant;
        public readonly List<TypeSpec> Types = new();
        public readonly List<MarkerSpec> Markers = new();
        public readonly List<(string name, Func<string> get)> Strings = new();
        public readonly List<ThreadFact> Threads = new();
        public readonly List<LockFact> Locks = new();
        public readonly List<string[]> Deadlocks = new();
        public readonly List<(string lockName, string heldBy, string[] waiters)> Contention = new();
        public Action<Utf8JsonWriter>? Finalizer;
        public readonly List<(string scenario, Action<Utf8JsonWriter> write)> ScenarioData = new();
        /// <summary>Run inside the no-GC region before anything is written (e.g. let threads publish).</summary>
        public readonly List<Action> BeforeRead = new();
        /// <summary>Run right after the truth writer's last GC.Collect, before the no-GC region (its GC promotes these once).</summary>
        public readonly List<Action> AfterLastCollect = new();
        public readonly Dictionary<string, double> SetupSeconds = new();
        public readonly Dictionary<string, string> Precomputed = new(); // e.g. sha256 of long strings

        public Truth(string process, string variant) { Process = process; Variant = variant; }

        public void AddFixedType(Type t, long count) =>
            Types.Add(new TypeSpec { Name = t.FullName!, Count = count, Fixed = t });

        public void AddType(string name, long count, Func<IEnumerable<object>> instances) =>
            Types.Add(new TypeSpec { Name = name, Count = count, Instances = instances });

        public void AddMarker(string name, string heap, Func<object> get) =>
            Markers.Add(new MarkerSpec { Name = name, Heap = heap, Get = get });

        public static string RuntimeCommit()
        {
            string? v = typeof(object).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
            if (v == null) return "";
            int plus = v.IndexOf('+');
            return plus >= 0 ? v[(plus + 1)..] : "";
        }

        public static string CoreClrPath()
        {
            foreach (string line in File.ReadLines("/proc/self/maps"))
            {
                int slash = line.IndexOf('/');
                if (slash >= 0 && line.EndsWith("/libcoreclr.so", StringComparison.Ordinal))
                    return line[slash..];
            }
            return "";
        }

        /// <summary>Writes the JSON document. Runs inside the no-GC region: objects do not move.</summary>
        public void Write(Stream output, NoGcInfo noGc)
        {
            foreach (var a in BeforeRead) a();

            var opts = new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
            using var w = new Utf8JsonWriter(output, opts);
            w.WriteStartObject();
            w.WriteString("process", Process);
            w.WriteString("variant", Variant);
            w.WriteNumber("pid", Environment.ProcessId);
            // what the runtime keeps of the command line (Environment.s_commandLineArgs): the report's summary
            w.WriteString("command_line", Environment.CommandLine);
            w.WriteStartArray("command_line_args");
            foreach (string a in Environment.GetCommandLineArgs()) w.WriteStringValue(a);
            w.WriteEndArray();
            w.WriteString("runtime_version", Environment.Version.ToString());
            w.WriteString("runtime_commit", RuntimeCommit());
            w.WriteString("coreclr_path", CoreClrPath());
            w.WriteNumber("pointer_size", IntPtr.Size);
            w.WriteBoolean("no_gc_region", noGc.Active);
            w.WriteNumber("no_gc_region_size", noGc.Size);
            if (noGc.Error != null) w.WriteString("no_gc_region_error", noGc.Error);

            WriteGc(w);
            WriteTypes(w);
            WriteMarkers(w);
            WriteStrings(w);
            WriteThreads(w);
            WriteLocks(w);

            if (Finalizer != null) { w.WritePropertyName("finalizer"); Finalizer(w); }

            w.WriteStartObject("scenario_data");
            foreach (var (name, write) in ScenarioData) { w.WritePropertyName(name); write(w); }
            w.WriteStartObject("setup_seconds");
            foreach (var kv in SetupSeconds) w.WriteNumber(kv.Key, Math.Round(kv.Value, 3));
            w.WriteEndObject();
            w.WriteEndObject();

            w.WriteEndObject();
            w.Flush();
        }

        private static void WriteGc(Utf8JsonWriter w)
        {
            w.WriteStartObject("gc");
            w.WriteBoolean("server", GCSettings.IsServerGC);
            IReadOnlyDictionary<string, object> cfg = GC.GetConfigurationVariables();
            int heaps = 1;
            if (GCSettings.IsServerGC)
                heaps = cfg.TryGetValue("HeapCount", out object? hc) ? Convert.ToInt32(hc) : Environment.ProcessorCount;
            w.WriteNumber("heap_count", heaps);
            // Regions (the default since .NET 7) or segments (libclrgc.so): the GC reports a
            // non-zero GCRegionRange only when it uses regions.
            w.WriteBoolean("regions", cfg.TryGetValue("GCRegionRange", out object? rr) && Convert.ToInt64(rr) != 0);
            w.WriteString("gc_name", Environment.GetEnvironmentVariable("DOTNET_GCName") ?? "");
            w.WriteString("latency_mode", GCSettings.LatencyMode.ToString());
            w.WriteNumber("max_generation", GC.MaxGeneration);
            w.WriteStartArray("collection_counts");
            for (int g = 0; g <= GC.MaxGeneration; g++) w.WriteNumberValue(GC.CollectionCount(g));
            w.WriteEndArray();
            // Everything the GC says about its configuration (GC.GetConfigurationVariables).
            w.WriteStartObject("config");
            foreach (var kv in cfg.OrderBy(k => k.Key, StringComparer.Ordinal))
            {
                switch (kv.Value)
                {
                    case bool b: w.WriteBoolean(kv.Key, b); break;
                    case string s: w.WriteString(kv.Key, s); break;
                    default: w.WriteNumber(kv.Key, Convert.ToInt64(kv.Value)); break;
                }
            }
            w.WriteEndObject();
            // What the last GC (the one that opened the no-GC region) reported.
            GCMemoryInfo info = GC.GetGCMemoryInfo(GCKind.Any);
            w.WriteStartObject("last_gc");
            w.WriteNumber("index", info.Index);
            w.WriteNumber("generation", info.Generation);
            w.WriteBoolean("compacted", info.Compacted);
            w.WriteNumber("heap_size_bytes", info.HeapSizeBytes);
            w.WriteNumber("fragmented_bytes", info.FragmentedBytes);
            w.WriteNumber("committed_bytes", info.TotalCommittedBytes);
            w.WriteNumber("pinned_objects_count", info.PinnedObjectsCount);
            w.WriteNumber("finalization_pending_count", info.FinalizationPendingCount);
            w.WriteStartArray("generations");   // gen0, gen1, gen2, loh, poh
            foreach (GCGenerationInfo g in info.GenerationInfo)
            {
                w.WriteStartObject();
                w.WriteNumber("size_after_bytes", g.SizeAfterBytes);
                w.WriteNumber("fragmentation_after_bytes", g.FragmentationAfterBytes);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }

        private void WriteTypes(Utf8JsonWriter w)
        {
            w.WriteStartObject("types");
            foreach (TypeSpec t in Types)
            {
                w.WriteStartObject(t.Name);
                w.WriteNumber("count", t.Count);
                if (t.Fixed != null)
                {
                    ulong size = Heap.InstanceSize(t.Fixed);
                    w.WriteNumber("total_size", size * (ulong)t.Count);
                    w.WriteNumber("instance_size", size);
                }
                else
                {
                    ulong total = 0; long n = 0;
                    foreach (object o in t.Instances!()) { total += Heap.SizeOf(o); n++; }
                    if (n != t.Count) throw new InvalidOperationException($"{t.Name}: {n} instances, expected {t.Count}");
                    w.WriteNumber("total_size", total);
                }
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }

        private void WriteMarkers(Utf8JsonWriter w)
        {
            w.WriteStartArray("markers");
            foreach (MarkerSpec m in Markers)
            {
                IntPtr addr; int gen; string type; ulong size; string csType = "";
                if (m.Get != null)
                {
                    object o = m.Get();
                    addr = Heap.AddressOf(o);
                    gen = GC.GetGeneration(o);
                    type = Heap.TypeName(o);
                    csType = Heap.CSharpName(o.GetType());
                    size = Heap.CheckedSizeOf(o);
                }
                else (addr, gen, type, size) = m.Published!();
                if (addr == IntPtr.Zero) throw new InvalidOperationException("marker without address: " + m.Name);
                w.WriteStartObject();
                w.WriteString("name", m.Name);
                w.WriteString("address", Heap.Hex(addr));
                w.WriteString("type", type);
                if (csType.Length != 0 && csType != type) w.WriteString("type_csharp", csType);
                w.WriteNumber("size", size);
                w.WriteNumber("generation", gen);
                w.WriteString("heap", m.Heap);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }

        private void WriteStrings(Utf8JsonWriter w)
        {
            w.WriteStartArray("strings");
            foreach (var (name, get) in Strings)
            {
                string s = get();
                w.WriteStartObject();
                w.WriteString("name", name);
                w.WriteString("address", Heap.Hex(Heap.AddressOf(s)));
                w.WriteNumber("length", s.Length);
                w.WriteNumber("size", Heap.CheckedSizeOf(s));
                w.WriteNumber("generation", GC.GetGeneration(s));
                if (s.Length <= 4096) w.WriteString("value", s);
                else w.WriteString("sha256", Precomputed["sha256:" + name]);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }

        private void WriteThreads(Utf8JsonWriter w)
        {
            w.WriteStartArray("threads");
            foreach (ThreadFact t in Threads)
            {
                w.WriteStartObject();
                w.WriteString("name", t.Name);
                w.WriteNumber("managed_id", t.ManagedId);
                w.WriteNumber("os_id", t.OsId);
                w.WriteString("role", t.Role);
                w.WriteString("blocked_in", t.BlockedIn);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }

        private void WriteLocks(Utf8JsonWriter w)
        {
            w.WriteStartArray("locks");
            foreach (LockFact l in Locks)
            {
                object o = l.Get();
                w.WriteStartObject();
                w.WriteString("name", l.Name);
                w.WriteString("address", Heap.Hex(Heap.AddressOf(o)));
                w.WriteString("type", Heap.TypeName(o));
                w.WriteString("kind", l.Kind);
                if (l.HeldBy == null) w.WriteNull("held_by"); else w.WriteString("held_by", l.HeldBy);
                if (l.Writer != null) w.WriteString("writer", l.Writer);
                w.WriteStartArray("waiters");
                foreach (string x in l.Waiters) w.WriteStringValue(x);
                w.WriteEndArray();
                if (l.WaitMode != null) w.WriteString("wait_mode", l.WaitMode);
                w.WriteEndObject();
            }
            w.WriteEndArray();

            w.WriteStartArray("deadlocks");
            foreach (string[] cycle in Deadlocks)
            {
                w.WriteStartArray();
                foreach (string x in cycle) w.WriteStringValue(x);
                w.WriteEndArray();
            }
            w.WriteEndArray();

            w.WriteStartArray("contention");
            foreach (var (lockName, heldBy, waiters) in Contention)
            {
                w.WriteStartObject();
                w.WriteString("lock", lockName);
                w.WriteString("held_by", heldBy);
                w.WriteStartArray("waiters");
                foreach (string x in waiters) w.WriteStringValue(x);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
    }

    internal sealed class NoGcInfo
    {
        public bool Active;
        public long Size;
        public string? Error;
    }
}
