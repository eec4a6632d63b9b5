// Scenario "dependent": a ConditionalWeakTable whose values nothing references but the runtime's
// dependent handles (key -> value, while the key lives). The index turns each such handle into a
// reference from the key to the value. It runs first in process "main", so its keys lie below most
// of the heap's objects: the index build divides the objects in address order among its threads,
// and these references from the first part must not shift the second part's.
using System.Runtime.CompilerServices;

namespace Scenarios
{
    internal sealed class DependentKey
    {
        public int Id;
    }

    internal sealed class DependentValue
    {
        public int Id;
    }

    internal static class DependentScenario
    {
        public const int Count = 64;

        internal static DependentKey[] s_keys = null!;
        internal static ConditionalWeakTable<DependentKey, DependentValue> s_table = null!;

        public static void Setup(Truth truth)
        {
            s_keys = new DependentKey[Count];
            s_table = new ConditionalWeakTable<DependentKey, DependentValue>();
            for (int i = 0; i < Count; i++)
            {
                s_keys[i] = new DependentKey { Id = i };
                s_table.Add(s_keys[i], new DependentValue { Id = i });
            }
            truth.AddFixedType(typeof(DependentKey), Count);
            truth.AddFixedType(typeof(DependentValue), Count);
            truth.AddMarker("dependent.key.first", "soh", () => s_keys[0]);
            truth.AddMarker("dependent.value.first", "soh", () => ValueOf(0));
            truth.AddMarker("dependent.key.last", "soh", () => s_keys[Count - 1]);
            truth.AddMarker("dependent.value.last", "soh", () => ValueOf(Count - 1));
        }

        private static object ValueOf(int i) => s_table.TryGetValue(s_keys[i], out var v) ? v : throw new System.InvalidOperationException("no value");
    }
}
