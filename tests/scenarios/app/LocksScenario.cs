// Process "locks": many kinds of blocked threads at once (see ../FIXTURES.md, "locks").
//  1. Monitor 2-cycle:  M1 holds A, wants B; M2 holds B, wants A.
//  2. Monitor 3-cycle:  C1 holds X, wants Y; C2 holds Y, wants Z; C3 holds Z, wants X.
//  3. System.Threading.Lock 2-cycle: L1 holds P, wants Q; L2 holds Q, wants P.
//  4. ReaderWriterLockSlim + Monitor cycle: W holds RW's write lock and wants monitor M;
//     R holds M and wants RW's read lock.
//  5. No cycle: H holds K and sleeps forever, K1..K3 wait for K; S1 waits on a SemaphoreSlim(0);
//     E1 waits on an unset ManualResetEventSlim; B1 waits in Barrier.SignalAndWait for a second
//     participant that never arrives; CD1 waits on a CountdownEvent(2) signalled once; J1 joins JT,
//     which sleeps forever (LocksScenario.Join.cs).
//  6. Thread-pool starvation by sync-over-async: the pool is limited to N workers, N + 2 work
//     items are queued, each blocks forever (Task.Wait / GetAwaiter().GetResult()) on a task of a
//     TaskCompletionSource that is never completed; 2 items stay queued.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;

namespace Scenarios
{
    /// <summary>The object every Monitor (C# lock) of process "locks" locks on.</summary>
    public sealed class LockObject
    {
        public readonly string Name;
        public LockObject(string name) { Name = name; }
    }

    internal static partial class LocksScenario
    {
        // Monitors (Scenarios.LockObject): 7 instances, nothing else allocates the type.
        private static readonly LockObject A = new("A"), B = new("B");
        private static readonly LockObject X = new("X"), Y = new("Y"), Z = new("Z");
        private static readonly LockObject M = new("M"), K = new("K");
        internal const int LockObjectCount = 7;
        // System.Threading.Lock (C# `lock` on a Lock compiles to Lock.EnterScope()).
#if NET9_0_OR_GREATER   // .NET 8 has no System.Threading.Lock: no P, Q, L1, L2 there
        private static readonly Lock P = new(), Q = new();
#endif
        private static readonly ReaderWriterLockSlim RW = new(LockRecursionPolicy.NoRecursion);
        private static readonly SemaphoreSlim Sem = new(0);
        private static readonly ManualResetEventSlim Evt = new(false);
        private static readonly Barrier Bar = new(2);            // only B1 ever arrives
        private static readonly CountdownEvent Cde = new(2);     // signalled once, never again
        // Thread pool.
        private static readonly TaskCompletionSource<int> s_never = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private static readonly object s_poolGate = new();
        private static readonly List<(ThreadFact fact, Thread thread, string how)> s_pool = new();
        private const int ExtraQueued = 2;
        private const int StackSize = 256 * 1024;

        private static readonly List<(ThreadFact fact, Thread thread)> s_threads = new();

        public static void Setup(Truth truth)
        {
            // 1. Monitor 2-cycle.
            var b2 = new Barrier(2);
            Start("M1", "holds A, blocked in Monitor.Enter(B)", "Scenarios.LocksScenario.M1LockAThenB", f => M1LockAThenB(f, b2));
            Start("M2", "holds B, blocked in Monitor.Enter(A)", "Scenarios.LocksScenario.M2LockBThenA", f => M2LockBThenA(f, b2));

            // 2. Monitor 3-cycle.
            var b3 = new Barrier(3);
            Start("C1", "holds X, blocked in Monitor.Enter(Y)", "Scenarios.LocksScenario.CycleHoldThenWant", f => CycleHoldThenWant(f, X, Y, b3));
            Start("C2", "holds Y, blocked in Monitor.Enter(Z)", "Scenarios.LocksScenario.CycleHoldThenWant", f => CycleHoldThenWant(f, Y, Z, b3));
            Start("C3", "holds Z, blocked in Monitor.Enter(X)", "Scenarios.LocksScenario.CycleHoldThenWant", f => CycleHoldThenWant(f, Z, X, b3));

#if NET9_0_OR_GREATER
            // 3. System.Threading.Lock 2-cycle.
            var bl = new Barrier(2);
            Start("L1", "holds Lock P, blocked in Lock.Enter(Q) (lock statement: Lock.EnterScope)", "Scenarios.LocksScenario.LockHoldThenWant", f => LockHoldThenWant(f, P, Q, bl));
            Start("L2", "holds Lock Q, blocked in Lock.Enter(P) (lock statement: Lock.EnterScope)", "Scenarios.LocksScenario.LockHoldThenWant", f => LockHoldThenWant(f, Q, P, bl));
#endif

            // 4. ReaderWriterLockSlim writer vs Monitor.
            var brw = new Barrier(2);
            Start("W", "holds RW's write lock, blocked in Monitor.Enter(M)", "Scenarios.LocksScenario.WriterThenMonitor", f => WriterThenMonitor(f, brw));
            Start("R", "holds M, blocked in RW.EnterReadLock()", "Scenarios.LocksScenario.MonitorThenReader", f => MonitorThenReader(f, brw));

            // 5. Contention without a cycle, and owner-less waits.
            var hHolds = new ManualResetEventSlim(false);
            Start("H", "holds K, parked in Thread.Sleep(Infinite)", "Scenarios.LocksScenario.HoldKAndSleep", f => HoldKAndSleep(f, hHolds));
            if (!hHolds.Wait(TimeSpan.FromSeconds(60))) throw new TimeoutException("H never took K");
            for (int i = 1; i <= 3; i++)
                Start("K" + i, "holds nothing, blocked in Monitor.Enter(K)", "Scenarios.LocksScenario.WaitForK", WaitForK);
            Start("S1", "holds nothing, blocked in SemaphoreSlim.Wait() (count 0, never released)", "Scenarios.LocksScenario.WaitSemaphore", WaitSemaphore);
            Start("E1", "holds nothing, blocked in ManualResetEventSlim.Wait() (never set)", "Scenarios.LocksScenario.WaitEvent", WaitEvent);
            Start("B1", "holds nothing, blocked in Barrier.SignalAndWait() (2 participants, the other never arrives)",
                  "Scenarios.LocksScenario.WaitBarrier", WaitBarrier);
            Cde.Signal();
            Start("CD1", "holds nothing, blocked in CountdownEvent.Wait() (initial count 2, signalled once)",
                  "Scenarios.LocksScenario.WaitCountdown", WaitCountdown);
            StartJoin();
            Start("X1", "caught an InvalidOperationException and sleeps inside the catch block (exception in flight)",
                  "Scenarios.LocksScenario.ThrowCatchAndSleep", ThrowCatchAndSleep);

            foreach (var (fact, thread) in s_threads)
            {
                ThreadFact f = fact;
                Native.WaitUntilBlocked(thread, () => f.OsId, f.Name);
            }

            // 6. Thread-pool starvation.
            var pool = StarveThreadPool();

            // ---- truth -----------------------------------------------------------------------
            truth.AddFixedType(typeof(LockObject), LockObjectCount);
            foreach (var (fact, _) in s_threads) truth.Threads.Add(fact);
            foreach (var (fact, _, _) in s_pool) truth.Threads.Add(fact);

            AddLock(truth, "A", "monitor", () => A, "M1", "M2");
            AddLock(truth, "B", "monitor", () => B, "M2", "M1");
            AddLock(truth, "X", "monitor", () => X, "C1", "C3");
            AddLock(truth, "Y", "monitor", () => Y, "C2", "C1");
            AddLock(truth, "Z", "monitor", () => Z, "C3", "C2");
#if NET9_0_OR_GREATER
#pragma warning disable CS9216 // only its address is read, nothing locks through the object reference
            AddLock(truth, "P", "lock", () => P, "L1", "L2");
            AddLock(truth, "Q", "lock", () => Q, "L2", "L1");
#pragma warning restore CS9216
#endif
            truth.Locks.Add(new LockFact { Name = "RW", Kind = "rwlock", Get = () => RW, HeldBy = "W", Writer = "W",
                Waiters = new[] { "R" }, WaitMode = "read" });
            AddLock(truth, "M", "monitor", () => M, "R", "W");
            AddLock(truth, "K", "monitor", () => K, "H", "K1", "K2", "K3");
            AddLock(truth, "SEM", "semaphore", () => Sem, null, "S1");
            AddLock(truth, "EVT", "event", () => Evt, null, "E1");
            AddLock(truth, "BAR", "barrier", () => Bar, null, "B1");
            AddLock(truth, "CDE", "countdown", () => Cde, null, "CD1");
            AddJoinTruth(truth);

            truth.Deadlocks.Add(new[] { "M1", "M2" });
            truth.Deadlocks.Add(new[] { "C1", "C2", "C3" });
#if NET9_0_OR_GREATER
            truth.Deadlocks.Add(new[] { "L1", "L2" });
#endif
            truth.Deadlocks.Add(new[] { "W", "R" });
            truth.Contention.Add(("K", "H", new[] { "K1", "K2", "K3" }));

            truth.AddMarker("threadpool.never_task", "soh", () => s_never.Task);

            truth.ScenarioData.Add(("locks", w =>
            {
                w.WriteStartObject();
                w.WriteString("monitor_type", typeof(LockObject).FullName);
                w.WriteString("locks_root", "static readonly fields of Scenarios.LocksScenario");
                w.WriteString("lock_statement_on_lock", "C# lock on a System.Threading.Lock compiles to Lock.EnterScope() / Lock.Scope.Dispose()");
                w.WriteEndObject();
            }));
            truth.ScenarioData.Add(("threadpool", w =>
            {
                w.WriteStartObject();
                w.WriteNumber("min_worker_threads", pool.min);
                w.WriteNumber("max_worker_threads", pool.max);
                w.WriteBoolean("set_max_threads_ok", pool.setMaxOk);
                w.WriteNumber("queued_work_items", pool.queued);
                w.WriteNumber("started_work_items", s_pool.Count);
                w.WriteNumber("still_queued_work_items", pool.queued - s_pool.Count);
                w.WriteNumber("pending_work_item_count", ThreadPool.PendingWorkItemCount);   // read now
                w.WriteNumber("thread_count", ThreadPool.ThreadCount);
                w.WriteStartArray("blocked_threads");
                foreach (var (fact, _, _) in s_pool) w.WriteNumberValue(fact.OsId);
                w.WriteEndArray();
                w.WriteStartArray("blocked_managed_ids");
                foreach (var (fact, _, _) in s_pool) w.WriteNumberValue(fact.ManagedId);
                w.WriteEndArray();
                w.WriteString("blocked_on", "Task.Wait / Task.GetAwaiter().GetResult() of a TaskCompletionSource<int> task that is never completed");
                w.WriteStartObject("blocked_how");   // thread name -> how its work item blocks
                foreach (var (fact, _, how) in s_pool) w.WriteString(fact.Name, how);
                w.WriteEndObject();
                w.WriteString("never_task_address", Heap.Hex(Heap.AddressOf(s_never.Task)));
                w.WriteEndObject();
            }));
            truth.ScenarioData.Add(("exception", w =>
            {
                w.WriteStartObject();
                w.WriteString("thread", "X1");
                w.WriteString("type", typeof(InvalidOperationException).FullName);
                w.WriteString("message", InFlightMessage);
                w.WriteEndObject();
            }));
            truth.ScenarioData.Add(("semaphore", w =>
            {
                w.WriteStartObject();
                w.WriteString("lock", "SEM");
                w.WriteString("address", Heap.Hex(Heap.AddressOf(Sem)));
                w.WriteNumber("current_count", Sem.CurrentCount);
                w.WriteStartArray("waiters"); w.WriteStringValue("S1"); w.WriteEndArray();
                w.WriteEndObject();
            }));
            truth.ScenarioData.Add(("event", w =>
            {
                w.WriteStartObject();
                w.WriteString("lock", "EVT");
                w.WriteString("address", Heap.Hex(Heap.AddressOf(Evt)));
                w.WriteBoolean("is_set", Evt.IsSet);
                w.WriteStartArray("waiters"); w.WriteStringValue("E1"); w.WriteEndArray();
                w.WriteEndObject();
            }));
            truth.ScenarioData.Add(("barrier", w =>
            {
                w.WriteStartObject();
                w.WriteString("lock", "BAR");
                w.WriteString("address", Heap.Hex(Heap.AddressOf(Bar)));
                w.WriteNumber("participants", Bar.ParticipantCount);
                w.WriteNumber("participants_remaining", Bar.ParticipantsRemaining);
                w.WriteNumber("phase", Bar.CurrentPhaseNumber);
                w.WriteStartArray("waiters"); w.WriteStringValue("B1"); w.WriteEndArray();
                w.WriteEndObject();
            }));
            truth.ScenarioData.Add(("countdown", w =>
            {
                w.WriteStartObject();
                w.WriteString("lock", "CDE");
                w.WriteString("address", Heap.Hex(Heap.AddressOf(Cde)));
                w.WriteNumber("initial_count", Cde.InitialCount);
                w.WriteNumber("current_count", Cde.CurrentCount);
                w.WriteStartArray("waiters"); w.WriteStringValue("CD1"); w.WriteEndArray();
                w.WriteEndObject();
            }));
        }

        private static void AddLock(Truth truth, string name, string kind, Func<object> get, string? heldBy, params string[] waiters)
        {
            truth.Locks.Add(new LockFact { Name = name, Kind = kind, Get = get, HeldBy = heldBy, Waiters = waiters });
            truth.AddMarker("lock." + name, "soh", get);
        }

        private static void Start(string name, string role, string blockedIn, Action<ThreadFact> body)
        {
            var f = new ThreadFact { Name = name, Role = role, BlockedIn = blockedIn };
            // A small stack: createdump writes each thread's whole stack mapping (8 MiB by default).
            var t = new Thread(() => { Identify(f); body(f); }, StackSize) { Name = name, IsBackground = true };
            s_threads.Add((f, t));
            t.Start();
        }

        private static void Identify(ThreadFact f)
        {
            f.ManagedId = Environment.CurrentManagedThreadId;
            f.OsId = Native.GetTid();
        }

        // ---- 1 ---------------------------------------------------------------------------------
        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void M1LockAThenB(ThreadFact f, Barrier b)
        {
            lock (A)
            {
                b.SignalAndWait();
                lock (B) { Thread.Sleep(Timeout.Infinite); }
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void M2LockBThenA(ThreadFact f, Barrier b)
        {
            lock (B)
            {
                b.SignalAndWait();
                lock (A) { Thread.Sleep(Timeout.Infinite); }
            }
        }

        // ---- 2 ---------------------------------------------------------------------------------
        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void CycleHoldThenWant(ThreadFact f, LockObject held, LockObject wanted, Barrier b)
        {
            lock (held)
            {
                b.SignalAndWait();
                lock (wanted) { Thread.Sleep(Timeout.Infinite); }
            }
        }

        // ---- 3 ---------------------------------------------------------------------------------
#if NET9_0_OR_GREATER
        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void LockHoldThenWant(ThreadFact f, Lock held, Lock wanted, Barrier b)
        {
            lock (held)
            {
                b.SignalAndWait();
                lock (wanted) { Thread.Sleep(Timeout.Infinite); }
            }
        }
#endif

        // ---- 4 ---------------------------------------------------------------------------------
        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void WriterThenMonitor(ThreadFact f, Barrier b)
        {
            RW.EnterWriteLock();
            b.SignalAndWait();
            lock (M) { Thread.Sleep(Timeout.Infinite); }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void MonitorThenReader(ThreadFact f, Barrier b)
        {
            lock (M)
            {
                b.SignalAndWait();
                RW.EnterReadLock();
                Thread.Sleep(Timeout.Infinite);
            }
        }

        // ---- 5 ---------------------------------------------------------------------------------
        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void HoldKAndSleep(ThreadFact f, ManualResetEventSlim holds)
        {
            lock (K)
            {
                holds.Set();
                Thread.Sleep(Timeout.Infinite);
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void WaitForK(ThreadFact f)
        {
            lock (K) { Thread.Sleep(Timeout.Infinite); }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void WaitSemaphore(ThreadFact f) => Sem.Wait();

        internal const string InFlightMessage = "dumpscope-exception-in-flight";

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void ThrowCatchAndSleep(ThreadFact f)
        {
            try
            {
                throw new InvalidOperationException(InFlightMessage);
            }
            catch (InvalidOperationException)
            {
                Thread.Sleep(Timeout.Infinite);
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void WaitEvent(ThreadFact f) => Evt.Wait();

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void WaitBarrier(ThreadFact f) => Bar.SignalAndWait();

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void WaitCountdown(ThreadFact f) => Cde.Wait();

        // ---- 6 ---------------------------------------------------------------------------------
        private static (int min, int max, bool setMaxOk, int queued) StarveThreadPool()
        {
            int workers = Math.Max(4, Environment.ProcessorCount);
            ThreadPool.GetMaxThreads(out _, out int ioMax);
            ThreadPool.GetMinThreads(out _, out int ioMin);
            bool setMaxOk = ThreadPool.SetMaxThreads(workers, ioMax);
            bool setMinOk = ThreadPool.SetMinThreads(workers, ioMin);
            ThreadPool.GetMaxThreads(out int maxNow, out _);
            ThreadPool.GetMinThreads(out int minNow, out _);
            if (!setMaxOk || !setMinOk || maxNow != workers)
                throw new InvalidOperationException($"thread pool limits not set: SetMaxThreads({workers}) {setMaxOk}, SetMinThreads {setMinOk}, max {maxNow}");

            int queued = workers + ExtraQueued;
            for (int i = 0; i < queued; i++)
            {
                bool viaWait = i % 2 == 0;
                if (viaWait) ThreadPool.UnsafeQueueUserWorkItem(_ => PoolItemWait(), null);
                else ThreadPool.UnsafeQueueUserWorkItem(_ => PoolItemGetResult(), null);
            }

            // Every worker takes one item and blocks; the rest stay queued.
            var sw = System.Diagnostics.Stopwatch.StartNew();
            while (true)
            {
                lock (s_poolGate) if (s_pool.Count >= workers) break;
                if (sw.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException($"only {s_pool.Count} of {workers} pool work items started");
                Thread.Sleep(5);
            }
            List<(ThreadFact fact, Thread thread, string how)> started;
            lock (s_poolGate) started = s_pool.ToList();
            foreach (var (fact, thread, _) in started) Native.WaitUntilBlocked(thread, () => fact.OsId, fact.Name);
            // Make sure the pool does not grow past its maximum (e.g. blocking compensation).
            Thread.Sleep(600);
            lock (s_poolGate)
                if (s_pool.Count != workers) throw new InvalidOperationException($"{s_pool.Count} pool work items started, expected {workers}");
            if (ThreadPool.PendingWorkItemCount != ExtraQueued)
                throw new InvalidOperationException($"{ThreadPool.PendingWorkItemCount} pool work items pending, expected {ExtraQueued}");
            return (minNow, maxNow, setMaxOk, queued);
        }

        private static ThreadFact RegisterPoolThread(string how, string blockedIn)
        {
            var f = new ThreadFact { BlockedIn = blockedIn };
            Identify(f);
            lock (s_poolGate)
            {
                f.Name = "pool-" + s_pool.Count;
                f.Role = "thread-pool worker: work item blocked in " + how + " on a TaskCompletionSource task never completed";
                s_pool.Add((f, Thread.CurrentThread, how));
            }
            return f;
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void PoolItemWait()
        {
            RegisterPoolThread("Task.Wait", "Scenarios.LocksScenario.PoolItemWait");
            s_never.Task.Wait();
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void PoolItemGetResult()
        {
            RegisterPoolThread("Task.GetAwaiter().GetResult", "Scenarios.LocksScenario.PoolItemGetResult");
            NeverAsync().GetAwaiter().GetResult();
        }

        private static async Task<int> NeverAsync() => await s_never.Task.ConfigureAwait(false) + 1;
    }
}
