// Process "big": about 1 GB of heap in more than 10 million small reachable objects, for
// benchmarks.  Every node is in one big array; Next links all nodes into one 10-million-long
// chain (a deep graph for markers that must not recurse); Other links point across the array.
using System;
using System.Runtime.CompilerServices;

namespace Scenarios
{
    public sealed class BigNode
    {
        public BigNode? Next;
        public BigNode? Other;
        public string? Label;
        public BigCell[]? Cells;
        public long Value;
    }

    public struct BigCell
    {
        public long A;
        public long B;
    }

    internal static class BigScenario
    {
        public const int NodeCount = 10_000_019;
        public const int LabelEvery = 4;        // every 4th node has its own label string
        public const int CellsEvery = 8;        // every 8th node has a BigCell[CellsLength]
        public const int CellsLength = 16;      // 24 + 16 * 16 = 280 bytes
        public const int OtherStride = 7919;

        internal static BigNode[] s_nodes = null!;

        public static int LabelCount => (NodeCount + LabelEvery - 1) / LabelEvery;
        public static int CellsCount => (NodeCount + CellsEvery - 1) / CellsEvery;

        public static void Setup(Truth truth)
        {
            Build();
            GC.Collect();
            GC.Collect();

            truth.AddFixedType(typeof(BigNode), NodeCount);
            truth.AddType("Scenarios.BigNode[]", 1, () => new object[] { s_nodes });
            truth.Types.Add(new TypeSpec
            {
                Name = "Scenarios.BigCell[]", Count = CellsCount,
                Instances = () => CellsInstances(),
            });
            truth.AddMarker("big.nodes", "loh", () => s_nodes);
            truth.AddMarker("big.node.first", "soh", () => s_nodes[0]);
            truth.AddMarker("big.node.last", "soh", () => s_nodes[NodeCount - 1]);
            truth.AddMarker("big.cells.first", "soh", () => s_nodes[0].Cells!);
            truth.Strings.Add(("big.label.first", () => s_nodes[0].Label!));
            truth.Strings.Add(("big.label.last", () => s_nodes[(NodeCount - 1) / LabelEvery * LabelEvery].Label!));
            truth.ScenarioData.Add(("big", w =>
            {
                w.WriteStartObject();
                w.WriteNumber("node_count", NodeCount);
                w.WriteNumber("label_count", LabelCount);
                w.WriteString("label_format", "node-{index:D8}, on every node whose index % 4 == 0");
                w.WriteNumber("cells_count", CellsCount);
                w.WriteNumber("chain_length", NodeCount);
                w.WriteString("root", "static field Scenarios.BigScenario.s_nodes (Scenarios.BigNode[] holding every node)");
                w.WriteString("links", "Next: node i -> i+1 (one chain over all nodes); Other: node i -> (i * 7919) % N");
                ulong labels = 0;
                for (int i = 0; i < NodeCount; i += LabelEvery) labels += Heap.SizeOf(s_nodes[i].Label!);
                w.WriteNumber("label_strings_total_size", labels);
                w.WriteEndObject();
            }));
        }

        private static System.Collections.Generic.IEnumerable<object> CellsInstances()
        {
            for (int i = 0; i < NodeCount; i += CellsEvery) yield return s_nodes[i].Cells!;
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void Build()
        {
            var nodes = new BigNode[NodeCount];
            for (int i = 0; i < NodeCount; i++)
            {
                var n = new BigNode { Value = i };
                if (i % LabelEvery == 0) n.Label = "node-" + i.ToString("D8");
                if (i % CellsEvery == 0) { n.Cells = new BigCell[CellsLength]; n.Cells[0].A = i; }
                nodes[i] = n;
            }
            for (int i = 0; i < NodeCount; i++)
            {
                nodes[i].Next = i + 1 < NodeCount ? nodes[i + 1] : null;
                nodes[i].Other = nodes[(int)((long)i * OtherStride % NodeCount)];
            }
            s_nodes = nodes;
        }
    }
}
