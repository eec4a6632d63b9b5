// Scenario "growth" (processes "growth1" and "growth2"): the same leaking program dumped at two
// sizes, for dump comparison. A static array holds GrowthRecord objects, each with its own key
// string and payload array; growth1 holds 20,000 of them, growth2 50,000.
using System;

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

        public static int RecordsFor(string process) => process == "growth1" ? 20000 : 50000;

        public static void Setup(Truth truth, int records)
        {
            s_records = new GrowthRecord[records];
            for (int i = 0; i < records; i++) s_records[i] = new GrowthRecord(i);
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
                w.WriteString("root", "static field Scenarios.GrowthScenario.s_records (Scenarios.GrowthRecord[])");
                w.WriteEndObject();
            }));
        }
    }
}
