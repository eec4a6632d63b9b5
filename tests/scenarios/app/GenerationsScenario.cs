// Process "locks", scenario "generations": objects whose generation at dump time is 0 or 1 (every
// other marker is gen 2, LOH, POH or frozen, because the truth writer collects twice first).
// The truth writer collects twice; then these are allocated and a gen 0 GC promotes them once
// (gen 1; the no-GC region's own GC, measured, leaves gen 0 survivors in gen 0); objects allocated
// inside the no-GC region, while the truth is read, have survived no GC (gen 0). The truth reports each
// marker's GC.GetGeneration, read inside the region, and the counts of both marker types.
// Not in process "main": anything allocated after its last collection lands in the gaps between
// the fragmentation scenario's pinned objects, which that scenario's truth walks.
using System;
using System.Collections.Generic;
using System.Threading;

namespace Scenarios
{
    /// <summary>Allocated inside the no-GC region: gen 0 at dump time.</summary>
    public sealed class YoungGen0Marker
    {
        public readonly long Id;
        public YoungGen0Marker(long id) { Id = id; }
    }

    /// <summary>Allocated after the last full collection, then promoted by one gen 0 GC: gen 1 at dump time.</summary>
    public sealed class YoungGen1Marker
    {
        public readonly long Id;
        public YoungGen1Marker(long id) { Id = id; }
    }

    internal static class GenerationsScenario
    {
        internal const int PerGeneration = 5;
        private static readonly List<object> s_gen1 = new(), s_gen0 = new();

        public static void Setup(Truth truth)
        {
            truth.AfterLastCollect.Add(() => OnOwnThread(() =>
            {
                for (int i = 0; i < PerGeneration; i++) s_gen1.Add(new YoungGen1Marker(i));
            }, promoteOnce: true));
            truth.BeforeRead.Insert(0, () => OnOwnThread(() =>
            {
                for (int i = 0; i < PerGeneration; i++) s_gen0.Add(new YoungGen0Marker(i));
            }, promoteOnce: false));
            truth.AddFixedType(typeof(YoungGen0Marker), PerGeneration);
            truth.AddFixedType(typeof(YoungGen1Marker), PerGeneration);
            for (int i = 0; i < PerGeneration; i++)
            {
                int k = i;
                truth.AddMarker("gen1." + k, "soh", () => s_gen1[k]);
                truth.AddMarker("gen0." + k, "soh", () => s_gen0[k]);
            }
            truth.ScenarioData.Add(("generations", w =>
            {
                w.WriteStartObject();
                w.WriteString("gen0_type", typeof(YoungGen0Marker).FullName);
                w.WriteString("gen1_type", typeof(YoungGen1Marker).FullName);
                w.WriteNumber("per_generation", PerGeneration);
                w.WriteString("how", "gen1: allocated after the last full GC.Collect, then one GC.Collect(0); gen0: allocated inside the no-GC region");
                w.WriteEndObject();
            }));
        }

        /// <summary>Allocates on a thread of its own that then ends, so its allocation context is
        /// retired (made walkable) at once: the main thread's context, and the fragmentation
        /// scenario's walk of the gaps between its pinned objects, stay as they were.</summary>
        private static void OnOwnThread(Action allocate, bool promoteOnce)
        {
            var t = new Thread(() => allocate(), 256 * 1024);
            t.Start();
            t.Join();
            // the no-GC region's own GC does not promote gen 0 survivors: a gen 0 GC does
            if (promoteOnce) GC.Collect(0, GCCollectionMode.Forced, blocking: true);
        }
    }
}
