// Scenario "report" (process "report"): what the automatic report's heap findings look for beyond
// leaks and locks: many HttpClient instances (each with its own handler), finalizable IDisposable
// objects that were never disposed next to ones that were, exceptions kept on the heap, and many
// pinned GC handles. Everything is reachable from statics, so nothing is collected or finalized.
using System;
using System.Collections.Generic;
using System.Net.Http;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Scenarios
{
    /// <summary>A finalizable IDisposable, the way a connection wrapper is written.</summary>
    public sealed class PooledConnection : IDisposable
    {
        public int Id;
        private bool _disposed;

        public PooledConnection(int id) { Id = id; }

        ~PooledConnection() { ReportScenario.s_finalized++; }   // never runs: every instance stays reachable

        public void Dispose()
        {
            _disposed = true;
            GC.SuppressFinalize(this);
        }

        public bool Disposed => _disposed;
    }

    /// <summary>Finalizable but not IDisposable (nothing to dispose): never "undisposed".</summary>
    public sealed class FinalizableOnly
    {
        public int Id;
        public FinalizableOnly(int id) { Id = id; }
        ~FinalizableOnly() { ReportScenario.s_finalized++; }
    }

    /// <summary>IDisposable through its base class: its own interface list is empty.</summary>
    public abstract class DisposableBase : IDisposable
    {
        public void Dispose() => GC.SuppressFinalize(this);
    }

    public sealed class DerivedResource : DisposableBase
    {
        public int Id;
        public DerivedResource(int id) { Id = id; }
        ~DerivedResource() { ReportScenario.s_finalized++; }
    }

    internal static class ReportScenario
    {
        public const int HttpClientCount = 24;
        public const int Undisposed = 150;
        public const int Disposed = 50;
        public const int FinalizableOnlyCount = 140;
        public const int DerivedUndisposed = 120;
        public const int DeadLohLength = 300_000;
        public const int PinnedHandles = 120;
        public const int PinnedArrayLength = 64;
        public const string TimeoutMessage = "dumpscope-report-timeout";
        public const int TimeoutCount = 5;
        public const string InvalidMessage = "dumpscope-report-invalid-state";
        public const int InvalidCount = 3;

        internal static List<HttpClient> s_clients = null!;
        internal static PooledConnection[] s_connections = null!;
        internal static FinalizableOnly[] s_finalizableOnly = null!;
        internal static DerivedResource[] s_derived = null!;
        internal static List<Exception> s_exceptions = null!;
        internal static GCHandle[] s_pinned = null!;
        internal static int s_finalized;
        internal static IntPtr s_deadLohAddr;
        internal static ulong s_deadLohSize;

        public static void Setup(Truth truth)
        {
            // the anti-pattern: a new HttpClient (and so a new handler and connection pool) per use
            s_clients = new List<HttpClient>(HttpClientCount);
            for (int i = 0; i < HttpClientCount; i++) s_clients.Add(new HttpClient());

            s_connections = new PooledConnection[Undisposed + Disposed];
            for (int i = 0; i < s_connections.Length; i++) s_connections[i] = new PooledConnection(i);
            for (int i = Undisposed; i < s_connections.Length; i++) s_connections[i].Dispose();
            s_finalizableOnly = new FinalizableOnly[FinalizableOnlyCount];
            for (int i = 0; i < FinalizableOnlyCount; i++) s_finalizableOnly[i] = new FinalizableOnly(i);
            s_derived = new DerivedResource[DerivedUndisposed];
            for (int i = 0; i < DerivedUndisposed; i++) s_derived[i] = new DerivedResource(i);

            s_exceptions = new List<Exception>(TimeoutCount + InvalidCount);
            for (int i = 0; i < TimeoutCount; i++) s_exceptions.Add(Caught(() => throw new TimeoutException(TimeoutMessage)));
            for (int i = 0; i < InvalidCount; i++) s_exceptions.Add(Caught(() => throw new InvalidOperationException(InvalidMessage)));

            s_pinned = new GCHandle[PinnedHandles];
            for (int i = 0; i < PinnedHandles; i++) s_pinned[i] = GCHandle.Alloc(new byte[PinnedArrayLength], GCHandleType.Pinned);
            GC.Collect();
            GC.Collect();

            truth.AddFixedType(typeof(HttpClient), HttpClientCount);
            truth.AddFixedType(typeof(HttpClientHandler), HttpClientCount);
            truth.AddFixedType(typeof(SocketsHttpHandler), HttpClientCount);
            truth.AddFixedType(typeof(PooledConnection), Undisposed + Disposed);
            truth.AddFixedType(typeof(FinalizableOnly), FinalizableOnlyCount);
            truth.AddFixedType(typeof(DerivedResource), DerivedUndisposed);
            truth.AddFixedType(typeof(TimeoutException), TimeoutCount);
            // a large array nothing references, allocated inside the no-GC region so that it stays
            // on the LOH, dead, until the dump
            truth.BeforeRead.Add(AllocateDeadLoh);
            truth.AddMarker("connection.undisposed.first", "soh", () => s_connections[0]);
            truth.AddMarker("connection.disposed.first", "soh", () => s_connections[Undisposed]);
            truth.AddMarker("exceptions.list", "soh", () => s_exceptions);

            truth.ScenarioData.Add(("report", w =>
            {
                if (s_finalized != 0) throw new InvalidOperationException($"{s_finalized} finalizers of the report's types ran");
                w.WriteStartObject();
                w.WriteNumber("http_clients", HttpClientCount);
                w.WriteString("http_client_type", typeof(HttpClient).FullName);
                w.WriteString("http_handler_type", typeof(SocketsHttpHandler).FullName);
                w.WriteString("undisposed_type", typeof(PooledConnection).FullName);
                w.WriteNumber("undisposed", Undisposed);
                w.WriteNumber("disposed", Disposed);
                // finalizable and never suppressed, but not IDisposable: not "undisposed"
                w.WriteString("finalizable_only_type", typeof(FinalizableOnly).FullName);
                w.WriteNumber("finalizable_only", FinalizableOnlyCount);
                w.WriteBoolean("finalizable_only_is_disposable", typeof(IDisposable).IsAssignableFrom(typeof(FinalizableOnly)));
                // IDisposable through its base class only
                w.WriteString("derived_undisposed_type", typeof(DerivedResource).FullName);
                w.WriteNumber("derived_undisposed", DerivedUndisposed);
                w.WriteBoolean("derived_is_disposable", typeof(IDisposable).IsAssignableFrom(typeof(DerivedResource)));
                w.WriteNumber("pinned_handles", PinnedHandles);
                w.WriteStartObject("dead_loh");
                w.WriteString("address", Heap.Hex(s_deadLohAddr));
                w.WriteString("type", typeof(byte[]).FullName);
                w.WriteNumber("size", s_deadLohSize);
                w.WriteEndObject();
                w.WriteStartArray("exceptions");
                foreach (var (type, message, count) in new[] {
                    (typeof(TimeoutException).FullName!, TimeoutMessage, TimeoutCount),
                    (typeof(InvalidOperationException).FullName!, InvalidMessage, InvalidCount) })
                {
                    w.WriteStartObject();
                    w.WriteString("type", type);
                    w.WriteString("message", message);
                    w.WriteNumber("count", count);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }));
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void AllocateDeadLoh()
        {
            var dead = new byte[DeadLohLength];
            s_deadLohAddr = Heap.AddressOf(dead);
            s_deadLohSize = Heap.SizeOf(dead);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static Exception Caught(Action thrower)
        {
            try { thrower(); }
            catch (Exception e) { return e; }
            throw new InvalidOperationException("nothing was thrown");
        }
    }
}
