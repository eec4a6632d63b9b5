// Process "locks", scenario "high-id-lock": a Monitor held recursively as a thin lock by a thread
// whose managed id is above 1023. .NET 6/7 kept a thin lock's owner id in header bits 0-9 and its
// recursion level in bits 10-15; .NET 8+ keeps the id in bits 0-15 and the level in bits 16-21
// (an owner id that does not fit inflates the lock to a sync block). The truth reports the
// owner's managed id, how often it entered the lock, and the object's raw header word, read
// inside the no-GC region, so a test can tell which of the two the runtime did.
using System;
using System.Collections.Generic;
using System.Threading;

namespace Scenarios
{
    /// <summary>The one object of process "locks" locked by the high-id thread.</summary>
    public sealed class HighIdLockObject
    {
    }

    internal static class HighIdLockScenario
    {
        internal const int MinManagedId = 1024;
        internal const int Acquisitions = 3;       // entered three times: recursion level 2
        private static readonly HighIdLockObject s_lock = new();
        private static readonly ThreadFact s_owner = new()
        {
            Name = "HI", Role = "holds HighIdLockObject (entered 3 times), parked in Thread.Sleep(Infinite)",
            BlockedIn = "Scenarios.HighIdLockScenario.HoldRecursively",
        };

        public static void Setup(Truth truth)
        {
            Thread owner = ThreadWithHighId();
            var holds = new ManualResetEventSlim(false);
            owner.Start(holds);
            if (!holds.Wait(TimeSpan.FromSeconds(60))) throw new TimeoutException("HI never took its lock");
            Native.WaitUntilBlocked(owner, () => s_owner.OsId, s_owner.Name);
            // the unstarted fillers are garbage now; collecting them frees their thread store entries
            GC.Collect();
            GC.WaitForPendingFinalizers();

            truth.Threads.Add(s_owner);
            truth.AddFixedType(typeof(HighIdLockObject), 1);
            truth.Locks.Add(new LockFact { Name = "HI", Kind = "monitor", Get = () => s_lock, HeldBy = "HI" });
            truth.AddMarker("lock.HI", "soh", () => s_lock);
            truth.ScenarioData.Add(("high_id_lock", w =>
            {
                w.WriteStartObject();
                w.WriteString("lock", "HI");
                w.WriteString("address", Heap.Hex(Heap.AddressOf(s_lock)));
                w.WriteString("owner", s_owner.Name);
                w.WriteNumber("owner_managed_id", s_owner.ManagedId);
                w.WriteNumber("acquisitions", Acquisitions);
                w.WriteNumber("header", HeaderOf(s_lock));
                w.WriteEndObject();
            }));
        }

        /// <summary>Managed thread ids go lowest free first, and a thread gets its id when it is
        /// created: keep unstarted threads until the next one's id is above 1023.</summary>
        private static Thread ThreadWithHighId()
        {
            var fillers = new List<Thread>();
            for (;;)
            {
                var t = new Thread(HoldRecursively, 256 * 1024) { Name = "HI", IsBackground = true };
                if (t.ManagedThreadId >= MinManagedId) { GC.KeepAlive(fillers); return t; }
                if (fillers.Count > 4 * MinManagedId) throw new InvalidOperationException("no managed thread id above 1023");
                fillers.Add(t);
            }
        }

        private static void HoldRecursively(object? state)
        {
            s_owner.ManagedId = Environment.CurrentManagedThreadId;
            s_owner.OsId = Native.GetTid();
            lock (s_lock)
            lock (s_lock)
            lock (s_lock)
            {
                ((ManualResetEventSlim)state!).Set();
                Thread.Sleep(Timeout.Infinite);
            }
        }

        private static unsafe uint HeaderOf(object o) => *(uint*)(Heap.AddressOf(o) - 4);
    }
}
