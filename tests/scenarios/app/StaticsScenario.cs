// Scenario "statics": what keeps objects alive through the runtime's static storage and two paths
// nothing else exercises.
//  - [ThreadStatic] fields of a STATIC class (no instance anywhere): a reference field and a
//    value-type field holding a reference (the runtime boxes it in the thread's storage), and one
//    of a generic static class's instantiation, set only on the thread "tls-holder".
//  - a regular static of a static class, and a static of a generic static class's instantiation.
//  - collectible types: this program's own assembly loaded again into a collectible
//    AssemblyLoadContext; an instance of CollectibleKept (from that copy) held by a static of the
//    default context keeps the context alive, and with it the payload its own static holds (only
//    through the loader allocator). A second context whose CollectibleGone instance is dropped
//    is unloaded and collected: no CollectibleGone is left.
//  - async: an AsyncPayload held only by a local of an async method suspended on a Task that
//    never completes (its state machine box hangs off that Task's continuation).
// Addresses are read through weak references in the no-GC region (they do not keep anything alive).
using System;
using System.Collections.Generic;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Loader;
using System.Threading;
using System.Threading.Tasks;

namespace Scenarios
{
    public sealed class TlsPayload { public long Magic = 0x50534C54; public int Id; }
    public sealed class TlsBoxed { public long Magic = 0x44584F42; public int Id; }
    public struct TlsPair { public int Count; public TlsBoxed? Ref; }
    public sealed class StaticPayload { public int Id; }
    public sealed class GenericItem { public int Id; }
    public sealed class TlsGenericItem { public int Id; }
    public sealed class AsyncPayload { public long Magic = 0x434E5953; public int Id; }

    // A static class: no instance, no method on any stack at dump time.
    internal static class TlsHolder
    {
        [ThreadStatic] internal static TlsPayload? t_payload;
        [ThreadStatic] internal static TlsPair t_pair;
    }

    // A generic static class with a thread static: its instantiation has no instance and is in no
    // module's TypeDef map.
    internal static class TlsGeneric<T>
    {
        [ThreadStatic] internal static List<T>? t_items;
    }

    internal static class StaticHolder
    {
        internal static StaticPayload? s_payload;
        internal static object? s_collectible;          // an instance of a collectible type
    }

    // A generic static class: GenericRegistry<GenericItem> has no instance, no method on a stack,
    // and is in no module's TypeDef map; its static s_items holds the list.
    internal static class GenericRegistry<T>
    {
        internal static List<T>? s_items;
    }

    // Instantiated only from the copies of this assembly loaded into collectible contexts.
    public sealed class CollectibleKept
    {
        public static CollectiblePayload? s_payload;
        public int Id = 7;
        public CollectibleKept() { s_payload = new CollectiblePayload { Id = 8 }; }
        public static object? Payload() => s_payload;
    }

    public sealed class CollectiblePayload { public int Id; }

    public sealed class CollectibleGone { public int Id = 9; }

    internal static class StaticsScenario
    {
        public const string TlsThreadName = "tls-holder";
        public const int GenericItemCount = 5;

        private static readonly ThreadFact s_tlsThread = new() { Name = TlsThreadName };
        private static readonly ManualResetEvent s_tlsSet = new(false);
        private static WeakReference s_tlsPayload = null!, s_tlsBoxed = null!, s_collectiblePayload = null!;
        private static WeakReference s_tlsGeneric = null!;
        private static WeakReference s_asyncPayload = null!;
        private static TaskCompletionSource s_never = null!;

        public static void Setup(Truth truth)
        {
            var t = new Thread(HoldThreadStatics) { Name = TlsThreadName, IsBackground = true };
            t.Start();
            if (!s_tlsSet.WaitOne(TimeSpan.FromSeconds(60))) throw new TimeoutException("tls-holder thread");

            StaticHolder.s_payload = new StaticPayload { Id = 1 };
            GenericRegistry<GenericItem>.s_items = new List<GenericItem>();
            for (int i = 0; i < GenericItemCount; i++) GenericRegistry<GenericItem>.s_items.Add(new GenericItem { Id = i });

            SetupCollectible();
            SetupAsync();

            truth.AddFixedType(typeof(TlsPayload), 1);
            truth.AddFixedType(typeof(TlsBoxed), 1);
            truth.AddFixedType(typeof(AsyncPayload), 1);
            truth.AddMarker("tls.payload", "soh", () => s_tlsPayload.Target!);
            truth.AddMarker("tls.boxed", "soh", () => s_tlsBoxed.Target!);
            truth.AddMarker("tls.generic", "soh", () => s_tlsGeneric.Target!);
            truth.AddMarker("static.payload", "soh", () => StaticHolder.s_payload!);
            truth.AddMarker("generic.items", "soh", () => GenericRegistry<GenericItem>.s_items!);
            truth.AddMarker("collectible.instance", "soh", () => StaticHolder.s_collectible!);
            truth.AddMarker("collectible.payload", "soh", () => s_collectiblePayload.Target!);
            truth.AddMarker("async.payload", "soh", () => s_asyncPayload.Target!);
            truth.Threads.Add(s_tlsThread);
            truth.BeforeRead.Add(() => Native.WaitUntilBlocked(t, () => s_tlsThread.OsId, "tls-holder thread"));

            truth.ScenarioData.Add(("statics", w =>
            {
                w.WriteStartObject();
                w.WriteString("tls_thread", TlsThreadName);
                w.WriteNumber("tls_thread_os_id", s_tlsThread.OsId);
                // marker -> the root the engine must name (kind, field), as "roots" shows it
                w.WriteStartObject("expected_roots");
                Expect(w, "tls.payload", "thread static", "Scenarios.TlsHolder.t_payload", TlsThreadName);
                Expect(w, "tls.boxed", "thread static", "Scenarios.TlsHolder.t_pair", TlsThreadName);
                Expect(w, "tls.generic", "thread static", "Scenarios.TlsGeneric`1[[Scenarios.TlsGenericItem, Scenarios]].t_items", TlsThreadName);
                Expect(w, "static.payload", "static field", "Scenarios.StaticHolder.s_payload", null);
                Expect(w, "generic.items", "static field", "Scenarios.GenericRegistry`1[[Scenarios.GenericItem, Scenarios]].s_items", null);
                Expect(w, "invoice.list", "static field", "Scenarios.LeakScenario.s_invoices", null);
                Expect(w, "collectible.instance", "static field", "Scenarios.StaticHolder.s_collectible", null);
                w.WriteEndObject();
                w.WriteString("collectible_payload_root", "static Scenarios.StaticHolder.s_collectible -> Scenarios.CollectibleKept (collectible) -> its LoaderAllocator -> ... -> Scenarios.CollectiblePayload (CollectibleKept.s_payload)");
                w.WriteString("collectible_loader_allocator_type", "System.Reflection.LoaderAllocator");
                w.WriteString("collectible_gone_type", "Scenarios.CollectibleGone");
                w.WriteString("async_payload_root", "local of StaticsScenario.HoldAsync, suspended on a Task that never completes");
                w.WriteString("async_box_type_contains", "AsyncStateMachineBox");
                w.WriteEndObject();
            }));
        }

        private static void Expect(System.Text.Json.Utf8JsonWriter w, string marker, string kind, string field, string? thread)
        {
            w.WriteStartObject(marker);
            w.WriteString("kind", kind);
            w.WriteString("field", field);
            if (thread != null) w.WriteString("thread", thread);
            w.WriteEndObject();
        }

        private static void HoldThreadStatics()
        {
            s_tlsThread.ManagedId = Environment.CurrentManagedThreadId;
            s_tlsThread.OsId = Native.GetTid();
            s_tlsThread.Role = "holds the only references to a TlsPayload and a TlsBoxed in [ThreadStatic] fields of a static class";
            s_tlsThread.BlockedIn = "Scenarios.StaticsScenario.HoldThreadStatics";
            SetThreadStatics();
            s_tlsSet.Set();
            Thread.Sleep(Timeout.Infinite);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void SetThreadStatics()
        {
            TlsHolder.t_payload = new TlsPayload { Id = 11 };
            TlsHolder.t_pair = new TlsPair { Count = 1, Ref = new TlsBoxed { Id = 12 } };
            s_tlsPayload = new WeakReference(TlsHolder.t_payload);
            s_tlsBoxed = new WeakReference(TlsHolder.t_pair.Ref);
            TlsGeneric<TlsGenericItem>.t_items = new List<TlsGenericItem> { new TlsGenericItem { Id = 13 } };
            s_tlsGeneric = new WeakReference(TlsGeneric<TlsGenericItem>.t_items);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void SetupCollectible()
        {
            string path = typeof(StaticsScenario).Assembly.Location;
            var kept = new AssemblyLoadContext("statics-kept", isCollectible: true);
            Assembly a = kept.LoadFromAssemblyPath(path);
            StaticHolder.s_collectible = Activator.CreateInstance(a.GetType("Scenarios.CollectibleKept", true)!);
            s_collectiblePayload = new WeakReference(a.GetType("Scenarios.CollectibleKept", true)!
                .GetMethod("Payload")!.Invoke(null, null));

            WeakReference gone = UnloadedContext(path);
            for (int i = 0; gone.IsAlive && i < 50; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
            if (gone.IsAlive) throw new InvalidOperationException("the collectible context did not unload");
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static WeakReference UnloadedContext(string path)
        {
            var ctx = new AssemblyLoadContext("statics-gone", isCollectible: true);
            Assembly a = ctx.LoadFromAssemblyPath(path);
            object gone = Activator.CreateInstance(a.GetType("Scenarios.CollectibleGone", true)!)!;
            GC.KeepAlive(gone);
            ctx.Unload();
            return new WeakReference(ctx);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void SetupAsync()
        {
            s_never = new TaskCompletionSource();
            _ = HoldAsync(); // the returned Task (the box) is dropped: only s_never's continuation holds it
        }

        private static async Task HoldAsync()
        {
            var payload = new AsyncPayload { Id = 21 };
            s_asyncPayload = new WeakReference(payload);
            await s_never.Task;
            GC.KeepAlive(payload);
        }
    }
}
