// Scenario "growth" (processes "growth1" and "growth2"): the same leaking program dumped at two
// sizes, for dump comparison. A static array holds GrowthRecord objects, each with its own key
// string and payload array; growth1 holds 20,000 of them, growth2 50,000. A second copy of the
// program's assembly, loaded again in its own AssemblyLoadContext, makes a second GrowthRecord type
// of the same name (another MethodTable): growth1 holds 1,000 of those, growth2 4,000. A comparison
// by type name must add both.
using System;
using System.Runtime.Loader;

namespace Scenarios
{
    public sealed class GrowthRecord
    {
        public string Key;
        public byte[] Payload;
        public int Index;

        public GrowthRecord(int index)
        {
            Index = index;
            Key = "rec-" + index.ToString("D6");
            Payload = new byte[GrowthScenario.PayloadLength];
        }
    }

    internal static class GrowthScenario
    {
        public const int PayloadLength = 48;

        internal static GrowthRecord[] s_records = null!;
        internal static object[] s_copies = null!;

        public static int RecordsFor(string process) => process == "growth1" ? 20000 : 50000;
        public static int CopiesFor(int records) => records == 20000 ? 1000 : 4000;

        public static void Setup(Truth truth, int records)
        {
            s_records = new GrowthRecord[records];
            for (int i = 0; i < records; i++) s_records[i] = new GrowthRecord(i);
            var context = new AssemblyLoadContext("second-copy");
            Type copy = context.LoadFromAssemblyPath(typeof(GrowthRecord).Assembly.Location).GetType(typeof(GrowthRecord).FullName!)!;
            if (copy == typeof(GrowthRecord)) throw new InvalidOperationException("the second copy is the same type");
            int copies = CopiesFor(records);
            s_copies = new object[copies];
            for (int i = 0; i < copies; i++) s_copies[i] = Activator.CreateInstance(copy, records + i)!; // keys unlike the first copy's
            ulong copySize = Heap.InstanceSize(copy);
            GC.Collect();
            GC.Collect();

            truth.AddFixedType(typeof(GrowthRecord), records);
            truth.AddType("Scenarios.GrowthRecord[]", 1, () => new object[] { s_records });
            truth.AddMarker("growth.records", records * 8 >= 85000 ? "loh" : "soh", () => s_records);
            truth.ScenarioData.Add(("growth", w =>
            {
                w.WriteStartObject();
                w.WriteNumber("records", records);
                w.WriteNumber("payload_length", PayloadLength);
                // the same-named type of the second copy: not in "types" (that is the first copy's)
                w.WriteStartObject("second_copy");
                w.WriteString("type", copy.FullName);
                w.WriteString("load_context", "second-copy");
                w.WriteNumber("count", copies);
                w.WriteNumber("total_size", copySize * (ulong)copies);
                w.WriteEndObject();
                w.WriteString("root", "static field Scenarios.GrowthScenario.s_records (Scenarios.GrowthRecord[])");
                w.WriteEndObject();
            }));
        }
    }
}
