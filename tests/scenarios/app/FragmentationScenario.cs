// Scenario "fragmentation": many arrays, every Stride-th one pinned with a GCHandle, the rest
// dropped, then a GC: free space lies between the pinned arrays.  In the no-GC region the program
// walks the memory between consecutive pinned arrays (reading MethodTables the way a heap walker
// does) and reports what it found there.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Scenarios
{
    [StructLayout(LayoutKind.Sequential)]
    public struct FragCell
    {
        public long A;
        public long B;
    }

    internal static unsafe class FragmentationScenario
    {
        public const int PinnedCount = 64;
        public const int Stride = 8;             // 1 pinned, 7 dropped, ...
        public const int CellsPerArray = 256;    // 24 + 256 * 16 = 4120 bytes per array

        internal static GCHandle[] s_handles = null!;

        public static void Setup(Truth truth)
        {
            AllocateAndPin();
            GC.Collect();

            truth.AddType("Scenarios.FragCell[]", PinnedCount, () => s_handles.Select(h => h.Target!));
            truth.AddMarker("fragmentation.pinned.first", "soh", () => s_handles[0].Target!);
            truth.AddMarker("fragmentation.pinned.last", "soh", () => s_handles[PinnedCount - 1].Target!);
            truth.ScenarioData.Add(("fragmentation", Write));
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void AllocateAndPin()
        {
            var all = new FragCell[PinnedCount * Stride][];
            for (int i = 0; i < all.Length; i++)
            {
                all[i] = new FragCell[CellsPerArray];
                all[i][0].A = i;
            }
            s_handles = new GCHandle[PinnedCount];
            for (int j = 0; j < PinnedCount; j++) s_handles[j] = GCHandle.Alloc(all[j * Stride], GCHandleType.Pinned);
        }

        private static void Write(System.Text.Json.Utf8JsonWriter w)
        {
            var pinned = s_handles.Select(h => h.Target!)
                .Select(o => (addr: (ulong)Heap.AddressOf(o), size: Heap.SizeOf(o), gen: GC.GetGeneration(o)))
                .ToList();
            IntPtr byteArrayMt = typeof(byte[]).TypeHandle.Value;
            IntPtr sbyteArrayMt = typeof(sbyte[]).TypeHandle.Value;
            IntPtr boolArrayMt = typeof(bool[]).TypeHandle.Value;

            w.WriteStartObject();
            w.WriteNumber("pinned_count", PinnedCount);
            w.WriteNumber("stride", Stride);
            w.WriteNumber("allocated_count", PinnedCount * Stride);
            w.WriteString("pinned_type", "Scenarios.FragCell[]");
            w.WriteNumber("pinned_array_length", CellsPerArray);
            w.WriteString("pinned_root", "GCHandle (Pinned), handles in static Scenarios.FragmentationScenario.s_handles");
            w.WriteStartArray("pinned");
            foreach (var p in pinned)
            {
                w.WriteStartObject();
                w.WriteString("address", Heap.Hex(p.addr));
                w.WriteNumber("size", p.size);
                w.WriteNumber("generation", p.gen);
                w.WriteEndObject();
            }
            w.WriteEndArray();

            // Memory between consecutive pinned arrays (in address order), walked object by object.
            // Only gaps inside one 4 MiB-aligned block are walked (same region / segment, so every
            // byte is committed heap).  A free object is recognised by its MethodTable: component
            // size 1, base size 24, and not byte[]/sbyte[]/bool[].
            var sorted = pinned.OrderBy(p => p.addr).ToList();
            ulong gapBytes = 0, freeBytes = 0; long freeObjects = 0, otherObjects = 0, walked = 0, skipped = 0, incomplete = 0;
            string freeMt = "";
            w.WriteStartArray("gaps");
            for (int i = 0; i + 1 < sorted.Count; i++)
            {
                ulong start = sorted[i].addr + sorted[i].size, end = sorted[i + 1].addr;
                if (end <= start) continue;
                bool sameBlock = (start >> 22) == ((end - 1) >> 22) && (end - start) <= (1UL << 20);
                w.WriteStartObject();
                w.WriteString("from", Heap.Hex(start));
                w.WriteString("to", Heap.Hex(end));
                w.WriteNumber("bytes", end - start);
                if (!sameBlock) { w.WriteString("walk", "skipped"); w.WriteEndObject(); skipped++; continue; }
                gapBytes += end - start;
                walked++;
                ulong p = start, gFree = 0; long gFreeN = 0, gOther = 0; string status = "complete";
                while (p < end)
                {
                    IntPtr mt = *(IntPtr*)p;
                    if (mt == IntPtr.Zero) { status = "stopped_at_zero"; break; }
                    uint comp = Heap.ComponentSize(mt);
                    ulong n = comp != 0 ? *(uint*)(p + 8) : 0;
                    ulong size = Heap.SizeFromMethodTable(mt, n);
                    bool isFree = comp == 1 && Heap.BaseSize(mt) == 24 && mt != byteArrayMt && mt != sbyteArrayMt && mt != boolArrayMt;
                    if (isFree) { gFree += size; gFreeN++; freeMt = Heap.Hex(mt); }
                    else gOther++;
                    p += size;
                }
                if (p > end) status = "overran";
                if (status != "complete") incomplete++;
                w.WriteString("walk", status);
                w.WriteNumber("free_objects", gFreeN);
                w.WriteNumber("free_bytes", gFree);
                w.WriteNumber("other_objects", gOther);
                w.WriteEndObject();
                freeBytes += gFree; freeObjects += gFreeN; otherObjects += gOther;
            }
            w.WriteEndArray();
            w.WriteStartObject("gaps_summary");
            w.WriteNumber("walked", walked);
            w.WriteNumber("skipped", skipped);
            w.WriteNumber("incomplete", incomplete);
            w.WriteNumber("bytes", gapBytes);
            w.WriteNumber("free_objects", freeObjects);
            w.WriteNumber("free_bytes", freeBytes);
            w.WriteNumber("other_objects", otherObjects);
            w.WriteString("free_method_table", freeMt);
            w.WriteEndObject();
            w.WriteEndObject();
        }
    }
}
