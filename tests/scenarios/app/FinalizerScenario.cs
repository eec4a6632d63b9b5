// Scenario "finalizer": finalizable objects still alive (registered, not ready), a finalizer that
// blocks the finalizer thread forever, and objects queued as ready for finalization behind it.
using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Threading;

namespace Scenarios
{
    public sealed class Finalizable : IDisposable
    {
        public int Id;
        public long Payload;
        public Finalizable(int id) { Id = id; Payload = id * 3L; }
        public void Dispose() => GC.SuppressFinalize(this);   // never called: "undisposed"
        ~Finalizable() { Interlocked.Increment(ref FinalizerScenario.s_finalizableRan); }
    }

    public sealed class ReadyFinalizable
    {
        public int Id;
        public ReadyFinalizable(int id) { Id = id; }
        ~ReadyFinalizable() { Interlocked.Increment(ref FinalizerScenario.s_readyRan); }
    }

    public sealed class BlockingFinalizable
    {
        public int Id = 7;

        // Runs on the finalizer thread and never returns: the finalizer thread stays blocked in
        // WaitHandle.WaitOne, with `this` live in this frame.
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.NoOptimization)]
        ~BlockingFinalizable()
        {
            FinalizerScenario.s_finalizerThread.OsId = Native.GetTid();
            FinalizerScenario.s_finalizerThread.ManagedId = Environment.CurrentManagedThreadId;
            FinalizerScenario.s_finalizerThreadName = Thread.CurrentThread.Name ?? "";
            Interlocked.Increment(ref FinalizerScenario.s_blockingRan);
            FinalizerScenario.s_started.Set();
            FinalizerScenario.s_publish.WaitOne();
            // Inside the no-GC region now.
            FinalizerScenario.s_blockingAddr = Heap.AddressOf(this);
            FinalizerScenario.s_blockingGen = GC.GetGeneration(this);
            FinalizerScenario.s_blockingSize = Heap.CheckedSizeOf(this);
            FinalizerScenario.s_published.Set();
            FinalizerScenario.s_forever.WaitOne();
            GC.KeepAlive(this);
        }
    }

    internal static class FinalizerScenario
    {
        public const int Undisposed = 500;
        public const int Ready = 200;

        internal static List<Finalizable> s_alive = null!;
        internal static int s_finalizableRan, s_readyRan, s_blockingRan;
        internal static readonly ManualResetEvent s_started = new(false);
        internal static readonly ManualResetEvent s_publish = new(false);
        internal static readonly ManualResetEvent s_published = new(false);
        internal static readonly ManualResetEvent s_forever = new(false);
        internal static IntPtr s_blockingAddr;
        internal static int s_blockingGen;
        internal static ulong s_blockingSize;
        internal static string s_finalizerThreadName = "";
        internal static readonly ThreadFact s_finalizerThread = new()
        {
            Name = "finalizer",
            Role = "the runtime's finalizer thread, blocked forever inside Scenarios.BlockingFinalizable's finalizer (WaitHandle.WaitOne)",
            BlockedIn = "Scenarios.BlockingFinalizable.Finalize",
        };

        public static void Setup(Truth truth)
        {
            // Drain whatever the runtime has pending before the finalizer thread is taken away.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();

            s_alive = new List<Finalizable>(Undisposed);
            for (int i = 0; i < Undisposed; i++) s_alive.Add(new Finalizable(i));

            MakeBlocking();
            GC.Collect();
            if (!s_started.WaitOne(TimeSpan.FromSeconds(60))) throw new TimeoutException("blocking finalizer never ran");
            // From here on the finalizer thread runs nothing else.
            MakeReady();
            GC.Collect();

            truth.AddFixedType(typeof(Finalizable), Undisposed);
            truth.AddFixedType(typeof(ReadyFinalizable), Ready);
            truth.AddFixedType(typeof(BlockingFinalizable), 1);
            truth.Threads.Add(s_finalizerThread);
            truth.AddMarker("finalizable.first", "soh", () => s_alive[0]);
            truth.Markers.Add(new MarkerSpec
            {
                Name = "finalizer.blocking_object", Heap = "soh",
                Published = () => (s_blockingAddr, s_blockingGen, typeof(BlockingFinalizable).FullName!, s_blockingSize),
            });
            truth.BeforeRead.Add(() =>
            {
                s_publish.Set();
                if (!s_published.WaitOne(TimeSpan.FromSeconds(60))) throw new TimeoutException("finalizer publish");
                // Let it get back into WaitOne (no managed Thread object to ask: use /proc).
                var sw = System.Diagnostics.Stopwatch.StartNew();
                while (Native.ThreadState(s_finalizerThread.OsId) != 'S' && sw.ElapsedMilliseconds < 10_000) Thread.Sleep(5);
                Thread.Sleep(50);
            });
            truth.Finalizer = w =>
            {
                if (s_readyRan != 0 || s_finalizableRan != 0 || s_blockingRan != 1)
                    throw new InvalidOperationException($"unexpected finalizer runs: ready {s_readyRan}, finalizable {s_finalizableRan}, blocking {s_blockingRan}");
                w.WriteStartObject();
                w.WriteString("type", typeof(Finalizable).FullName);
                w.WriteNumber("undisposed", Undisposed);
                w.WriteString("ready_type", typeof(ReadyFinalizable).FullName);
                w.WriteNumber("ready_for_finalization", Ready);
                w.WriteString("blocking_type", typeof(BlockingFinalizable).FullName);
                w.WriteNumber("blocked_finalizer_thread_os_id", s_finalizerThread.OsId);
                w.WriteNumber("blocked_finalizer_thread_managed_id", s_finalizerThread.ManagedId);
                w.WriteString("blocked_finalizer_thread_name", s_finalizerThreadName);
                w.WriteEndObject();
            };
            truth.ScenarioData.Add(("finalizer", w =>
            {
                w.WriteStartObject();
                w.WriteString("undisposed_root", "static field Scenarios.FinalizerScenario.s_alive (List<Scenarios.Finalizable>)");
                w.WriteString("ready_note", "unreachable, in the finalization (f-reachable) queue; never finalized because the finalizer thread is blocked");
                w.WriteString("blocking_note", "dequeued, its finalizer is running; `this` is live in the finalizer's frame only");
                w.WriteNumber("finalizers_run_ready", s_readyRan);
                w.WriteNumber("finalizers_run_finalizable", s_finalizableRan);
                w.WriteEndObject();
            }));
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void MakeBlocking() => _ = new BlockingFinalizable();

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void MakeReady()
        {
            for (int i = 0; i < Ready; i++) _ = new ReadyFinalizable(i);
        }
    }
}
