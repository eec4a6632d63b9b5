// Scenario "deadlock-monitor": T1 holds A and waits for B, T2 holds B and waits for A (a
// deadlock through Monitor, i.e. `lock`); T4 holds C (and D, uncontended) and sleeps forever,
// T3 waits for C (contention, not a deadlock).
using System;
using System.Runtime.CompilerServices;
using System.Threading;

namespace Scenarios
{
    public sealed class MonitorLock
    {
        public int Id;
        public MonitorLock(int id) { Id = id; }
    }

    internal static class DeadlockScenario
    {
        internal static readonly MonitorLock A = new(1), B = new(2), C = new(3), D = new(4);

        private static readonly Barrier s_barrier = new(2);
        private static readonly ManualResetEvent s_t4Holds = new(false);
        private static readonly ThreadFact T1 = new() { Name = "T1", BlockedIn = "Scenarios.DeadlockScenario.T1LockAThenB",
            Role = "holds A, blocked in Monitor.Enter(B)" };
        private static readonly ThreadFact T2 = new() { Name = "T2", BlockedIn = "Scenarios.DeadlockScenario.T2LockBThenA",
            Role = "holds B, blocked in Monitor.Enter(A)" };
        private static readonly ThreadFact T3 = new() { Name = "T3", BlockedIn = "Scenarios.DeadlockScenario.T3WaitForC",
            Role = "holds nothing, blocked in Monitor.Enter(C)" };
        private static readonly ThreadFact T4 = new() { Name = "T4", BlockedIn = "Scenarios.DeadlockScenario.T4HoldCAndSleep",
            Role = "holds C and D, parked in Thread.Sleep(Infinite)" };

        public static void Setup(Truth truth)
        {
            Thread t1 = Start("T1", T1LockAThenB), t2 = Start("T2", T2LockBThenA);
            Thread t4 = Start("T4", T4HoldCAndSleep);
            if (!s_t4Holds.WaitOne(TimeSpan.FromSeconds(60))) throw new TimeoutException("T4");
            Thread t3 = Start("T3", T3WaitForC);

            Native.WaitUntilBlocked(t1, () => T1.OsId, "T1");
            Native.WaitUntilBlocked(t2, () => T2.OsId, "T2");
            Native.WaitUntilBlocked(t3, () => T3.OsId, "T3");
            Native.WaitUntilBlocked(t4, () => T4.OsId, "T4");

            truth.AddFixedType(typeof(MonitorLock), 4);
            truth.Threads.Add(T1); truth.Threads.Add(T2); truth.Threads.Add(T3); truth.Threads.Add(T4);
            truth.Locks.Add(new LockFact { Name = "A", Get = () => A, HeldBy = "T1", Waiters = new[] { "T2" } });
            truth.Locks.Add(new LockFact { Name = "B", Get = () => B, HeldBy = "T2", Waiters = new[] { "T1" } });
            truth.Locks.Add(new LockFact { Name = "C", Get = () => C, HeldBy = "T4", Waiters = new[] { "T3" } });
            truth.Locks.Add(new LockFact { Name = "D", Get = () => D, HeldBy = "T4", Waiters = Array.Empty<string>() });
            truth.Deadlocks.Add(new[] { "T1", "T2" });
            truth.Contention.Add(("C", "T4", new[] { "T3" }));
            truth.ScenarioData.Add(("deadlock-monitor", w =>
            {
                w.WriteStartObject();
                w.WriteString("mechanism", "System.Threading.Monitor (C# lock statement)");
                w.WriteString("locks_root", "static readonly fields Scenarios.DeadlockScenario.A/B/C/D");
                w.WriteString("note_d", "D is held by T4 without contention (may stay a thin lock in the object header)");
                w.WriteEndObject();
            }));
        }

        private static Thread Start(string name, ThreadStart body)
        {
            var t = new Thread(body) { Name = name, IsBackground = true };
            t.Start();
            return t;
        }

        private static void Identify(ThreadFact f)
        {
            f.ManagedId = Environment.CurrentManagedThreadId;
            f.OsId = Native.GetTid();
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void T1LockAThenB()
        {
            Identify(T1);
            lock (A)
            {
                s_barrier.SignalAndWait();
                lock (B) { Thread.Sleep(Timeout.Infinite); }
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void T2LockBThenA()
        {
            Identify(T2);
            lock (B)
            {
                s_barrier.SignalAndWait();
                lock (A) { Thread.Sleep(Timeout.Infinite); }
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void T3WaitForC()
        {
            Identify(T3);
            lock (C) { Thread.Sleep(Timeout.Infinite); }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void T4HoldCAndSleep()
        {
            Identify(T4);
            lock (C)
            {
                lock (D)
                {
                    s_t4Holds.Set();
                    Thread.Sleep(Timeout.Infinite);
                }
            }
        }
    }
}
