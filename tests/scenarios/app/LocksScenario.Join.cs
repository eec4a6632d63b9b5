// Process "locks", Thread.Join: J1 joins JT, which holds nothing and sleeps forever. The join
// waits on JT's Thread object and is "held" by JT: the wait-for graph follows it like a lock
// (see ../FIXTURES.md, "locks").
using System;
using System.Runtime.CompilerServices;
using System.Threading;

namespace Scenarios
{
    internal static partial class LocksScenario
    {
        private static Thread? s_joined;

        private static void StartJoin()
        {
            Start("JT", "holds nothing, parked in Thread.Sleep(Infinite); J1 joins it", "Scenarios.LocksScenario.SleepForever",
                  SleepForever);
            s_joined = s_threads[s_threads.Count - 1].thread;
            Start("J1", "holds nothing, blocked in Thread.Join() on JT, which never ends", "Scenarios.LocksScenario.JoinJT",
                  JoinJT);
        }

        private static void AddJoinTruth(Truth truth) => AddLock(truth, "JOIN", "join", () => s_joined!, "JT", "J1");

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void SleepForever(ThreadFact f) => Thread.Sleep(Timeout.Infinite);

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void JoinJT(ThreadFact f) => s_joined!.Join();
    }
}
