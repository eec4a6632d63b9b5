// A minimal-API Kestrel application, dumped under load: a client loop in the same process keeps
// requests open on endpoints that await a task that never completes (/pending) or a long delay
// (/delayed), after a burst of completed requests (/ok). Each open request allocates one marker
// object that only its async state machine holds, so the truth is exact: the number of markers of
// each type alive, all reachable through an async state machine box. One request (/blocking) waits
// synchronously on a SemaphoreSlim on its thread pool worker: one blocked worker of several is
// what a healthy server has now and then, not starvation.
//
// Usage: dotnet AspNetScenario.dll <truth.json>. Prints "READY <truth.json>" once every request is
// in flight, then waits to be dumped and killed.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AspNetScenario
{
    // Held only by the state machine of a request that awaits s_never.
    public sealed class PendingRequest
    {
        public readonly int Id;
        public readonly string Path;
        public readonly byte[] Payload = new byte[200];
        public PendingRequest(int id, string path) { Id = id; Path = path; }
    }

    // Held only by the state machine of a request that awaits a ten-minute delay.
    public sealed class DelayedRequest
    {
        public readonly int Id;
        public readonly DateTime Started = DateTime.UtcNow;
        public DelayedRequest(int id) { Id = id; }
    }

    public static class Program
    {
        public const int Pending = 8, Delayed = 8, Completed = 40;
        private static readonly TaskCompletionSource s_never = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private static int s_inFlight, s_completed;
        private static readonly List<Task<HttpResponseMessage>> s_open = new();
        private static readonly SemaphoreSlim s_gate = new(0);   // never released
        private static int s_blockedOsId, s_blockedManagedId;
        private static Thread? s_blockedThread;

        [DllImport("libc", EntryPoint = "gettid")]
        private static extern int GetTid();

        public static async Task<int> Main(string[] args)
        {
            if (args.Length != 1) { Console.Error.WriteLine("usage: AspNetScenario <truth.json>"); return 2; }
            string truthPath = args[0];

            var builder = WebApplication.CreateBuilder(Array.Empty<string>());
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            app.MapGet("/ok", () => { Interlocked.Increment(ref s_completed); return "ok"; });
            app.MapGet("/blocking", () =>
            {
                Volatile.Write(ref s_blockedManagedId, Environment.CurrentManagedThreadId);
                Volatile.Write(ref s_blockedOsId, GetTid());
                Volatile.Write(ref s_blockedThread, Thread.CurrentThread);
                s_gate.Wait();
                return "never";
            });
            app.MapGet("/pending/{id:int}", async (int id, HttpContext context) =>
            {
                var marker = new PendingRequest(id, context.Request.Path);
                Interlocked.Increment(ref s_inFlight);
                await s_never.Task;
                return marker.Id;
            });
            app.MapGet("/delayed/{id:int}", async (int id) =>
            {
                var marker = new DelayedRequest(id);
                Interlocked.Increment(ref s_inFlight);
                await Task.Delay(TimeSpan.FromMinutes(10));
                return marker.Id;
            });
            await app.StartAsync();
            string address = app.Services.GetService(typeof(IServer)) is IServer server
                ? server.Features.Get<IServerAddressesFeature>()!.Addresses.First()
                : throw new InvalidOperationException("no server");

            // One client for the whole run, as an application should have it.
            var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 })
            {
                BaseAddress = new Uri(address),
                Timeout = Timeout.InfiniteTimeSpan,
            };
            for (int round = 0; round < Completed / 8; round++)
                await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => client.GetStringAsync("/ok")));
            s_open.Add(client.GetAsync("/blocking"));
            var blockedBy = DateTime.UtcNow.AddSeconds(60);
            while (Volatile.Read(ref s_blockedThread) is not Thread blocked ||
                   (blocked.ThreadState & System.Threading.ThreadState.WaitSleepJoin) == 0)
            {
                if (DateTime.UtcNow > blockedBy) throw new TimeoutException("the /blocking request never started");
                await Task.Delay(10);
            }
            for (int i = 0; i < Pending; i++) s_open.Add(client.GetAsync($"/pending/{i}"));
            for (int i = 0; i < Delayed; i++) s_open.Add(client.GetAsync($"/delayed/{i}"));

            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (Volatile.Read(ref s_inFlight) < Pending + Delayed)
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"only {s_inFlight} requests in flight");
                await Task.Delay(10);
            }
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();

            WriteTruth(truthPath, address);
            Console.WriteLine($"READY {truthPath}");
            Console.Out.Flush();
            await Task.Delay(Timeout.Infinite);
            return 0;
        }

        private static void WriteTruth(string path, string address)
        {
            using (var stream = File.Create(path + ".tmp"))
            using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("process", "aspnet");
                w.WriteString("variant", "load");
                w.WriteNumber("pid", Environment.ProcessId);
                w.WriteString("runtime_version", Environment.Version.ToString());
                w.WriteString("coreclr_path", Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "libcoreclr.so"));
                w.WriteString("address", address);
                w.WriteBoolean("healthy", true);
                w.WriteNumber("completed_requests", Volatile.Read(ref s_completed));
                w.WriteNumber("requests_in_flight", Volatile.Read(ref s_inFlight));
                w.WriteStartObject("blocked_worker");
                w.WriteNumber("os_id", s_blockedOsId);
                w.WriteNumber("managed_id", s_blockedManagedId);
                w.WriteString("blocked_in", "System.Threading.SemaphoreSlim.Wait");
                w.WriteEndObject();
                w.WriteNumber("thread_pool_threads", ThreadPool.ThreadCount);
                w.WriteStartArray("in_flight");
                foreach (var (type, count, awaits) in new[] {
                    (typeof(PendingRequest).FullName!, Pending, "a TaskCompletionSource that never completes"),
                    (typeof(DelayedRequest).FullName!, Delayed, "Task.Delay(10 minutes)") })
                {
                    w.WriteStartObject();
                    w.WriteString("type", type);
                    w.WriteNumber("count", count);
                    w.WriteString("awaits", awaits);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            File.Move(path + ".tmp", path, overwrite: true);
        }
    }
}
