// Scenarios <process> <truth-path>
//
// Sets up the scenarios of one process ("main", "locks", "report", "growth1", "growth2", "midgc" or "big"), reaches a quiet state, enters a no-GC
// region so nothing moves, writes the ground truth to <truth-path> (via <truth-path>.tmp and a
// rename), prints "READY <truth-path>" and sleeps until killed.  See ../FIXTURES.md.  "midgc"
// leaves the no-GC region after the truth and, once READY is printed, starts collecting in a
// loop (MidGcScenario.cs).
using System;
using System.Diagnostics;
using System.IO;
using System.Runtime;
using System.Runtime.CompilerServices;
using System.Threading;

namespace Scenarios
{
    internal static class Program
    {
        // Budget of the no-GC region: far more than writing the truth allocates, small enough for
        // workstation and server GC, regions and segments.
        private const long NoGcRegionSize = 16L * 1024 * 1024;

        private static int Main(string[] args)
        {
            if (args.Length != 2 || (args[0] != "main" && args[0] != "big" && args[0] != "locks" && args[0] != "report" &&
                                     args[0] != "growth1" && args[0] != "growth2" && args[0] != "midgc"))
            {
                Console.Error.WriteLine("usage: Scenarios main|locks|report|growth1|growth2|midgc|big <truth-path>");
                return 2;
            }
            string process = args[0], truthPath = Path.GetFullPath(args[1]);
            string variant = Environment.GetEnvironmentVariable("DS_FIXTURE_VARIANT") ?? "";
            Thread.CurrentThread.Name = "main";

            var truth = new Truth(process, variant);
            truth.Threads.Add(new ThreadFact
            {
                Name = "main", ManagedId = Environment.CurrentManagedThreadId, OsId = Native.GetTid(),
                Role = "wrote the truth, then parked in Thread.Sleep(Infinite)", BlockedIn = "Scenarios.Program.Main",
            });

            if (process == "main")
            {
                Run(truth, "dependent", DependentScenario.Setup); // first: see the scenario
                Run(truth, "leak", LeakScenario.Setup);
                Run(truth, "strings", StringsScenario.Setup);
                Run(truth, "deadlock-monitor", DeadlockScenario.Setup);
                // before "finalizer", which blocks the finalizer thread that unloading a collectible
                // context needs
                Run(truth, "statics", StaticsScenario.Setup);
                Run(truth, "finalizer", FinalizerScenario.Setup);
                Run(truth, "frame-args", FrameArgsScenario.Setup);
                Run(truth, "fragmentation", FragmentationScenario.Setup);
            }
            else if (process == "locks")
            {
                Run(truth, "locks", LocksScenario.Setup);
                Run(truth, "high-id-lock", HighIdLockScenario.Setup);
                Run(truth, "generations", GenerationsScenario.Setup);
            }
            else if (process == "report")
            {
                Run(truth, "report", ReportScenario.Setup);
            }
            else if (process == "growth1" || process == "growth2")
            {
                Run(truth, "growth", t => GrowthScenario.Setup(t, GrowthScenario.RecordsFor(process)));
            }
            else if (process == "midgc")
            {
                Run(truth, "deadlock-monitor", DeadlockScenario.Setup);
                Run(truth, "mid-gc", MidGcScenario.Setup);
            }
            else
            {
                Run(truth, "big", BigScenario.Setup);
            }

            WriteTruth(truth, truthPath);
            if (process == "midgc" && GCSettings.LatencyMode == GCLatencyMode.NoGCRegion) GC.EndNoGCRegion();
            Console.Out.WriteLine("READY " + truthPath);
            Console.Out.Flush();
            // "midgc" starts its collecting loops only now: once they run, every transition of
            // this thread into managed code waits for the next collection to end, and the first
            // write to the console (JIT, type loads) could take minutes on a loaded machine
            // (make-fixtures waits 2 s after READY before it dumps).
            if (process == "midgc") MidGcScenario.Go();
            Thread.Sleep(Timeout.Infinite);
            return 0;
        }

        private static void Run(Truth truth, string name, Action<Truth> setup)
        {
            var sw = Stopwatch.StartNew();
            setup(truth);
            truth.SetupSeconds[name] = sw.Elapsed.TotalSeconds;
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void WriteTruth(Truth truth, string truthPath)
        {
            string tmp = truthPath + ".tmp";
            GC.Collect();
            GC.Collect();
            foreach (var a in truth.AfterLastCollect) a();
            var noGc = new NoGcInfo { Size = NoGcRegionSize };
            try { noGc.Active = GC.TryStartNoGCRegion(NoGcRegionSize); }
            catch (Exception e) { noGc.Error = e.GetType().Name + ": " + e.Message; }
            if (!noGc.Active && noGc.Error == null) noGc.Error = "TryStartNoGCRegion returned false";
            if (!noGc.Active) Console.Error.WriteLine("warning: no no-GC region: " + noGc.Error);

            int[] counts = CollectionCounts();
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                truth.Write(fs, noGc);
                fs.Flush(true);
            }
            // A GC while addresses were read would make them stale: fail rather than lie.
            if (!SameCounts(counts, CollectionCounts()))
                throw new InvalidOperationException("a GC ran while the truth was written");
            if (noGc.Active && GCSettings.LatencyMode != GCLatencyMode.NoGCRegion)
                throw new InvalidOperationException("the no-GC region ended while the truth was written");
            File.Move(tmp, truthPath, overwrite: true);
        }

        private static int[] CollectionCounts()
        {
            var c = new int[GC.MaxGeneration + 1];
            for (int g = 0; g < c.Length; g++) c[g] = GC.CollectionCount(g);
            return c;
        }

        private static bool SameCounts(int[] a, int[] b)
        {
            for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) return false;
            return true;
        }
    }
}
