// Scenario "leak": a large, promoted object graph reachable from a static, LOH arrays, a pinned
// array, a POH array, and a Marker object held only by a local of a parked thread.
using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace Scenarios
{
    public sealed class Invoice
    {
        public string Number;
        public Customer Customer;
        public decimal Amount;
        public int Index;

        public Invoice(int index, Customer customer)
        {
            Index = index;
            Customer = customer;
            Number = "INV-" + index.ToString("D6");
            Amount = 10.25m * (index % 1000);
        }
    }

    public sealed class Customer
    {
        public int Id;
        public long AccountNo;
        public Invoice? LastInvoice;   // back reference: Invoice <-> Customer cycles
    }

    public sealed class Marker
    {
        public long Magic = 0x5343454E4152494F; // "SCENARIO"
        public int Id;

        // Set only on the marker-holder thread: its ThreadStaticMarker is referenced from nowhere
        // else. Declared on Marker (which has a live instance) so that a root scanner can find the
        // declaring MethodTable from the heap.
        [ThreadStatic] internal static ThreadStaticMarker? t_marker;
    }

    public sealed class ThreadStaticMarker
    {
        public long Magic = 0x5453544154494353; // "SCITATST"
        public int Id;
    }

    internal static class LeakScenario
    {
        public const int InvoiceCount = 100003;
        public const int LohArrayCount = 7;
        public const int LohArrayLength = 120000;
        public const int PinnedArrayLength = 1000;
        public const int PohArrayLength = 4096;
        public const string MarkerThreadName = "marker-holder";
        public const string MarkerMethod = "Scenarios.LeakScenario.HoldMarker";

        // Roots.  The list is pre-sized so that exactly one Invoice[] (its backing array) exists.
        internal static List<Invoice> s_invoices = null!;
        internal static byte[][] s_lohArrays = null!;
        internal static GCHandle s_pinnedHandle;
        internal static byte[] s_pohArray = null!;

        private static readonly ManualResetEvent s_markerCreated = new(false);
        private static readonly ManualResetEvent s_publish = new(false);
        private static readonly ManualResetEvent s_published = new(false);
        private static IntPtr s_markerAddr;
        private static int s_markerGen;
        private static ulong s_markerSize;
        private static string s_markerType = "";
        private static IntPtr s_tsMarkerAddr;
        private static int s_tsMarkerGen;
        private static ulong s_tsMarkerSize;
        private static string s_tsMarkerType = "";
        private static readonly ThreadFact s_markerThread = new() { Name = MarkerThreadName };

        public static void Setup(Truth truth)
        {
            s_invoices = new List<Invoice>(InvoiceCount);
            for (int i = 0; i < InvoiceCount; i++)
            {
                var c = new Customer { Id = i, AccountNo = 1_000_000L + i };
                var inv = new Invoice(i, c);
                c.LastInvoice = inv;
                s_invoices.Add(inv);
            }
            if (s_invoices.Count != s_invoices.Capacity) throw new InvalidOperationException("list grew");
            GC.Collect();
            GC.Collect();

            s_lohArrays = new byte[LohArrayCount][];
            for (int i = 0; i < LohArrayCount; i++)
            {
                s_lohArrays[i] = new byte[LohArrayLength];
                s_lohArrays[i].AsSpan().Fill((byte)(0xA0 + i));
            }
            var pinned = new byte[PinnedArrayLength];
            pinned.AsSpan().Fill(0x5A);
            s_pinnedHandle = GCHandle.Alloc(pinned, GCHandleType.Pinned);
            s_pohArray = GC.AllocateArray<byte>(PohArrayLength, pinned: true);
            s_pohArray.AsSpan().Fill(0x77);

            var t = new Thread(HoldMarker) { Name = MarkerThreadName, IsBackground = true };
            t.Start();
            if (!s_markerCreated.WaitOne(TimeSpan.FromSeconds(60))) throw new TimeoutException("marker thread");

            truth.AddFixedType(typeof(Invoice), InvoiceCount);
            truth.AddFixedType(typeof(Customer), InvoiceCount);
            // Two Invoice[] exist: the list's backing array and List<Invoice>'s static empty array.
            object[] invoiceArrays = InvoiceArrays();
            truth.AddType("Scenarios.Invoice[]", invoiceArrays.Length, InvoiceArrays);
            truth.AddFixedType(typeof(Marker), 1);
            truth.AddFixedType(typeof(ThreadStaticMarker), 1);

            truth.AddMarker("invoice.first", "soh", () => s_invoices[0]);
            truth.AddMarker("invoice.last", "soh", () => s_invoices[InvoiceCount - 1]);
            truth.AddMarker("customer.first", "soh", () => s_invoices[0].Customer);
            truth.AddMarker("invoice.list", "soh", () => s_invoices);
            truth.AddMarker("invoice.list.items", "loh", ItemsArray);
            for (int i = 0; i < LohArrayCount; i++)
            {
                int k = i;
                truth.AddMarker($"loh.array.{k}", "loh", () => s_lohArrays[k]);
            }
            truth.AddMarker("pinned.array", "soh", () => s_pinnedHandle.Target!);
            truth.AddMarker("poh.array", "poh", () => s_pohArray);
            truth.Markers.Add(new MarkerSpec
            {
                Name = "marker.local", Heap = "soh",
                Published = () => (s_markerAddr, s_markerGen, s_markerType, s_markerSize),
            });
            truth.Markers.Add(new MarkerSpec
            {
                Name = "threadstatic.marker", Heap = "soh",
                Published = () => (s_tsMarkerAddr, s_tsMarkerGen, s_tsMarkerType, s_tsMarkerSize),
            });
            truth.Strings.Add(("invoice.first.number", () => s_invoices[0].Number));
            truth.Strings.Add(("invoice.last.number", () => s_invoices[InvoiceCount - 1].Number));

            truth.Threads.Add(s_markerThread);
            // In the no-GC region: let the marker thread report where its local object is.
            truth.BeforeRead.Add(() =>
            {
                s_publish.Set();
                if (!s_published.WaitOne(TimeSpan.FromSeconds(60))) throw new TimeoutException("marker publish");
                Native.WaitUntilBlocked(t, () => s_markerThread.OsId, "marker thread");
            });

            truth.ScenarioData.Add(("leak", w =>
            {
                w.WriteStartObject();
                w.WriteNumber("invoice_count", InvoiceCount);
                w.WriteString("invoice_root", "static field Scenarios.LeakScenario.s_invoices (List<Scenarios.Invoice>, capacity " + InvoiceCount + ")");
                w.WriteString("invoice_arrays", "Scenarios.Invoice[]: the list's backing array (capacity " + InvoiceCount + ") and List<Invoice>.s_emptyArray (length 0)");
                w.WriteNumber("invoice_number_length", s_invoices[0].Number.Length);
                w.WriteString("invoice_number_format", "INV-{index:D6}, one distinct string per Invoice");
                w.WriteNumber("loh_array_count", LohArrayCount);
                w.WriteNumber("loh_array_length", LohArrayLength);
                w.WriteString("loh_array_root", "static field Scenarios.LeakScenario.s_lohArrays (System.Byte[][])");
                w.WriteNumber("pinned_array_length", PinnedArrayLength);
                w.WriteString("pinned_array_root", "GCHandle (Pinned) only");
                w.WriteNumber("poh_array_length", PohArrayLength);
                w.WriteString("poh_array_root", "static field Scenarios.LeakScenario.s_pohArray (GC.AllocateArray pinned: true)");
                w.WriteString("marker_thread", MarkerThreadName);
                w.WriteString("marker_method", MarkerMethod);
                w.WriteString("marker_root", "local variable of " + MarkerMethod + " (only reference), thread parked in Thread.Sleep(Infinite)");
                w.WriteString("threadstatic_root", "[ThreadStatic] field Scenarios.Marker.t_marker (only reference), set on thread " + MarkerThreadName);
                w.WriteString("threadstatic_thread", MarkerThreadName);
                w.WriteNumber("threadstatic_thread_os_id", s_markerThread.OsId);
                w.WriteEndObject();
            }));
        }

        private static object[] InvoiceArrays()
        {
            var arrays = new List<object> { ItemsArray() };
            var empty = typeof(List<Invoice>).GetField("s_emptyArray", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static);
            if (empty?.GetValue(null) is Invoice[] e && !ReferenceEquals(e, arrays[0])) arrays.Add(e);
            return arrays.ToArray();
        }

        private static object ItemsArray()
        {
            // The List's backing array: _items.
            var f = typeof(List<Invoice>).GetField("_items", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
            return f.GetValue(s_invoices)!;
        }

        // The Marker lives only in this frame.  Unoptimized so that the local keeps its own stack
        // slot for the whole method (what a stack-root scanner should find).
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.NoOptimization)]
        private static void HoldMarker()
        {
            s_markerThread.ManagedId = Environment.CurrentManagedThreadId;
            s_markerThread.OsId = Native.GetTid();
            s_markerThread.Role = "holds the only reference to the Marker in a local variable; parked in Thread.Sleep(Infinite)";
            s_markerThread.BlockedIn = MarkerMethod;
            Marker marker = new Marker { Id = 42 };
            Marker.t_marker = new ThreadStaticMarker { Id = 43 };
            s_markerCreated.Set();
            s_publish.WaitOne();
            // Inside the no-GC region now: the address stays valid.
            s_markerAddr = Heap.AddressOf(marker);
            s_markerGen = GC.GetGeneration(marker);
            s_markerType = Heap.TypeName(marker);
            s_markerSize = Heap.CheckedSizeOf(marker);
            ThreadStaticMarker ts = Marker.t_marker!;
            s_tsMarkerAddr = Heap.AddressOf(ts);
            s_tsMarkerGen = GC.GetGeneration(ts);
            s_tsMarkerType = Heap.TypeName(ts);
            s_tsMarkerSize = Heap.CheckedSizeOf(ts);
            ts = null!;
            s_published.Set();
            Thread.Sleep(Timeout.Infinite);
            GC.KeepAlive(marker);
        }
    }
}
