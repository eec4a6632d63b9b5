// Scenario "mid-gc" (process "midgc"): a process that spends nearly all its time in blocking
// compacting garbage collections, so that a dump taken at an arbitrary moment is likely to catch
// one in its plan/relocate/compact phases. The runtime marks exactly that window as "GC structures
// invalid" (gc.cpp brackets plan_phase, which relocates and compacts, with
// GCScan::GcRuntimeStructuresValid(FALSE/TRUE); the DAC's GetGCHeapData reports
// bGcStructuresValid = (gc_structures_invalid_cnt == 0)); the mark phase and the suspension are
// outside it. The window grows with the number of live objects the plan and relocate phases
// visit and the bytes the compaction moves, so the heap holds about 2.5 million small linked
// objects (about 80 MB) and a churn thread keeps replacing a share of them, leaving holes all over
// gen 2 for the next compaction to close.
//
// Threads: "gc-loop" calls GC.Collect(2, Forced, blocking, compacting) back to back; "churn"
// replaces nodes; the deadlock-monitor scenario's T1..T4 hold and wait for monitors (sync
// blocks: the DAC's sync-block table, not the heap walk, knows them). Both loop threads start
// only after the truth is written (the truth writer's no-GC region ends first), so the truth's
// addresses are stale in the dump by design: a mid-GC dump is checked on threads, stacks, handles
// and locks only. make-fixtures.sh dumps the process until a dump reports the GC structures as
// invalid (fixtures.json: "gc_structures_valid": false).
using System;
using System.Runtime.CompilerServices;
using System.Threading;

namespace Scenarios
{
    public sealed class MidGcNode
    {
        public MidGcNode? Next;
        public long Value;
        public MidGcNode(MidGcNode? next, long value) { Next = next; Value = value; }
    }

    internal static class MidGcScenario
    {
        public const int Chains = 4096;
        public const int NodesPerChain = 600;

        private static MidGcNode?[] s_chains = null!;
        private static readonly ManualResetEvent s_go = new(false);
        private static long s_collections, s_replaced;
        private static readonly ThreadFact GcLoop = new() { Name = "gc-loop", BlockedIn = "Scenarios.MidGcScenario.CollectForever",
            Role = "calls GC.Collect(2, Forced, blocking: true, compacting: true) in a loop (the GC runs on this thread)" };
        private static readonly ThreadFact Churn = new() { Name = "churn", BlockedIn = "Scenarios.MidGcScenario.ChurnForever",
            Role = "replaces linked nodes in a loop (allocates; suspended by the GC)" };

        public static void Setup(Truth truth)
        {
            s_chains = new MidGcNode?[Chains];
            for (int c = 0; c < Chains; c++)
            {
                MidGcNode? head = null;
                for (int i = 0; i < NodesPerChain; i++) head = new MidGcNode(head, ((long)c << 20) | (long)i);
                s_chains[c] = head;
            }
            Start(GcLoop, CollectForever);
            Start(Churn, ChurnForever);

            truth.Threads.Add(GcLoop);
            truth.Threads.Add(Churn);
            truth.ScenarioData.Add(("mid-gc", w =>
            {
                w.WriteStartObject();
                w.WriteBoolean("loops_start_after_truth", true);
                w.WriteNumber("chains", Chains);
                w.WriteNumber("nodes_per_chain", NodesPerChain);
                w.WriteString("node_type", typeof(MidGcNode).FullName);
                w.WriteString("note", "addresses in this truth are stale in the dump: the GC loop compacts after it was written");
                w.WriteEndObject();
            }));
        }

        /// <summary>Called once the truth is written, the no-GC region has ended and READY is printed.</summary>
        public static void Go() => s_go.Set();

        private static void Start(ThreadFact f, ThreadStart body)
        {
            var ready = new ManualResetEvent(false);
            var t = new Thread(() => { f.ManagedId = Environment.CurrentManagedThreadId; f.OsId = Native.GetTid(); ready.Set(); body(); })
            { Name = f.Name, IsBackground = true };
            t.Start();
            if (!ready.WaitOne(TimeSpan.FromSeconds(60))) throw new TimeoutException(f.Name);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void CollectForever()
        {
            s_go.WaitOne();
            while (true)
            {
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                Interlocked.Increment(ref s_collections);
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void ChurnForever()
        {
            s_go.WaitOne();
            var rng = new Random(12345);
            while (true)
            {
                // replace every other node of a random chain: the old ones die in gen 2 (holes),
                // the new ones are young until the next compaction promotes them
                int c = rng.Next(Chains);
                MidGcNode? n = s_chains[c];
                while (n?.Next != null)
                {
                    MidGcNode old = n.Next;
                    n.Next = new MidGcNode(old.Next, old.Value);
                    n = n.Next.Next;
                }
                s_replaced++;
            }
        }
    }
}
