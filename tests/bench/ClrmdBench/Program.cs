// ClrmdBench: the ClrMD side of tests/bench/compare.sh. One operation per process:
//
//   ClrmdBench histogram DUMP DAC        per-type count and bytes (prints the totals and the top types)
//   ClrmdBench verify DUMP DAC           ClrHeap.VerifyHeap(): the number of corrupt objects
//   ClrmdBench gcroot DUMP DAC ADDR      the first root path to ADDR (GCRoot, one thread)
//   ClrmdBench roots-all DUMP DAC ADDR   every root's path to ADDR (GCRoot)
//   ClrmdBench syncblk DUMP DAC          sync blocks with an owner or waiters
//
// The DAC is given (compare.sh takes it from `dumpscope info`): .NET 10 dumps defeat ClrMD's own
// version check (see tests/oracle/ClrmdOracle/Program.cs), so the DAC is used as is.
using Microsoft.Diagnostics.Runtime;

internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length < 3)
        {
            Console.Error.WriteLine("usage: ClrmdBench histogram|verify|gcroot|roots-all|syncblk DUMP DAC [ADDR]");
            return 1;
        }
        var opts = new DataTargetOptions { SymbolPaths = Array.Empty<string>() };
        using DataTarget dt = DataTarget.LoadDump(args[1], opts);
        using ClrRuntime runtime = dt.ClrVersions[0].CreateRuntime(args[2], ignoreMismatch: true);
        ClrHeap heap = runtime.Heap;
        ulong addr = args.Length > 3 ? Convert.ToUInt64(args[3].Replace("0x", ""), 16) : 0;
        switch (args[0])
        {
            case "histogram":
            {
                var stats = new Dictionary<ulong, (string Name, long Count, ulong Bytes)>();
                long objects = 0;
                ulong bytes = 0;
                foreach (ClrObject o in heap.EnumerateObjects())
                {
                    ulong mt = o.Type?.MethodTable ?? 0;
                    ulong size = o.Size;
                    stats.TryGetValue(mt, out var s);
                    stats[mt] = (s.Name ?? o.Type?.Name ?? "?", s.Count + 1, s.Bytes + size);
                    objects++;
                    bytes += size;
                }
                foreach (var kv in stats.OrderByDescending(kv => kv.Value.Bytes).Take(4))
                    Console.WriteLine($"0x{kv.Key:x} {kv.Value.Count} {kv.Value.Bytes} {kv.Value.Name}");
                Console.WriteLine($"Total {objects} objects, {bytes} bytes");
                break;
            }
            case "verify":
                Console.WriteLine($"{heap.VerifyHeap().Count()} corrupt objects");
                break;
            case "gcroot":
            {
                var first = new GCRoot(heap, new[] { addr }).EnumerateRootPaths().FirstOrDefault();
                int length = 0;
                for (GCRoot.ChainLink? link = first.Path; link != null; link = link.Next)
                    length++;
                Console.WriteLine(first.Root == null ? "no path" : $"path of {length} objects from {first.Root.RootKind}");
                break;
            }
            case "roots-all":
                Console.WriteLine($"{new GCRoot(heap, new[] { addr }).EnumerateRootPaths().Count()} root paths");
                break;
            case "syncblk":
                Console.WriteLine($"{heap.EnumerateSyncBlocks().Count(s => s.IsMonitorHeld || s.WaitingThreadCount > 0)} sync blocks held or waited on");
                break;
            default:
                Console.Error.WriteLine($"ClrmdBench: unknown operation {args[0]}");
                return 1;
        }
        return 0;
    }
}
