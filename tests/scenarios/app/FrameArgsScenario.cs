// Scenario "frame-args": a thread parked inside Hold(int, string, object, FramePoint), whose
// arguments and locals have known names, declared types and values, at a known source line (the
// runtime's own StackFrame reads that line from the portable PDB next to Scenarios.dll). The
// method is unoptimized so every argument and local keeps its own stack slot.
using System;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading;

namespace Scenarios
{
    public struct FramePoint
    {
        public int X;
        public long Y;
    }

    public sealed class FramePayload
    {
        public int Id;
    }

    internal static class FrameArgsScenario
    {
        private const int Count = 1234567;
        private static readonly FramePoint Where = new() { X = 11, Y = -22 };
        private static readonly ManualResetEvent s_parked = new(false);
        private static readonly ThreadFact s_thread = new() { Name = "frame-args", BlockedIn = "Scenarios.FrameArgsScenario.Hold",
            Role = "parked in Thread.Sleep(Infinite) under Hold(int, string, object, FramePoint)" };
        // The frame's objects, also held here so the truth writer reads their addresses in the
        // no-GC region (the GC updates the frame's slots and these fields alike).
        private static string s_label = "";
        private static FramePayload s_payload = null!;
        private static string? s_greeting;
        private static object? s_boxed;
        private static string s_file = "";
        private static int s_line, s_ilOffset;

        public static void Setup(Truth truth)
        {
            s_label = new string('L', 1) + "abel-of-frame-args";
            s_payload = new FramePayload { Id = 77 };
            var t = new Thread(() => Hold(Count, s_label, s_payload, Where)) { IsBackground = true, Name = "frame-args" };
            t.Start();
            if (!s_parked.WaitOne(TimeSpan.FromSeconds(60))) throw new TimeoutException("frame-args");
            Native.WaitUntilBlocked(t, () => s_thread.OsId, "frame-args");
            truth.AddFixedType(typeof(FramePayload), 1);
            truth.Threads.Add(s_thread);
            truth.ScenarioData.Add(("frame-args", Write));
        }

        // Arguments and locals as the frame holds them: name, declared type (reflection's
        // spelling), value (numbers as numbers, references as addresses, structs field by field).
        private static void Write(Utf8JsonWriter w)
        {
            w.WriteStartObject();
            w.WriteString("thread", s_thread.Name);
            w.WriteString("method", s_thread.BlockedIn);
            w.WriteString("file", s_file);
            w.WriteNumber("line", s_line);
            w.WriteNumber("il_offset", s_ilOffset);
            w.WriteStartArray("arguments");
            Number(w, "count", typeof(int), Count);
            Reference(w, "label", typeof(string), s_label);
            Reference(w, "payload", typeof(object), s_payload);
            Point(w, "where", Where);
            w.WriteEndArray();
            w.WriteStartArray("locals");
            Number(w, "total", typeof(int), Count + Where.X);
            Reference(w, "greeting", typeof(string), s_greeting!);
            Reference(w, "boxed", typeof(object), s_boxed!);
            Point(w, "moved", new FramePoint { X = Where.X + 1, Y = Where.Y * 2 });
            w.WriteEndArray();
            w.WriteEndObject();
        }

        private static void Number(Utf8JsonWriter w, string name, Type type, long value)
        {
            w.WriteStartObject();
            w.WriteString("name", name);
            w.WriteString("type", type.FullName);
            w.WriteNumber("value", value);
            w.WriteEndObject();
        }

        private static void Reference(Utf8JsonWriter w, string name, Type type, object value)
        {
            w.WriteStartObject();
            w.WriteString("name", name);
            w.WriteString("type", type.FullName);
            w.WriteString("address", "0x" + Heap.AddressOf(value).ToString("x"));
            w.WriteString("object_type", value.GetType().FullName);
            w.WriteEndObject();
        }

        private static void Point(Utf8JsonWriter w, string name, FramePoint p)
        {
            w.WriteStartObject();
            w.WriteString("name", name);
            w.WriteString("type", typeof(FramePoint).FullName);
            w.WriteStartObject("fields");
            w.WriteNumber(nameof(FramePoint.X), p.X);
            w.WriteNumber(nameof(FramePoint.Y), p.Y);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.NoOptimization)]
        private static void Hold(int count, string label, object payload, FramePoint where)
        {
            s_thread.ManagedId = Environment.CurrentManagedThreadId;
            s_thread.OsId = Native.GetTid();
            int total = count + where.X;
            string greeting = string.Concat(label, "!");
            object boxed = where;
            FramePoint moved = new FramePoint { X = where.X + 1, Y = where.Y * 2 };
            s_greeting = greeting;
            s_boxed = boxed;
            int parked = Park() + total + moved.X;
            GC.KeepAlive(label);
            GC.KeepAlive(payload);
            GC.KeepAlive(greeting);
            GC.KeepAlive(boxed);
            Console.WriteLine(parked + where.X + count + moved.Y);
        }

        // Records where Hold called it (the runtime reads the line from the PDB), then parks.
        [MethodImpl(MethodImplOptions.NoInlining)]
        private static int Park()
        {
            var caller = new StackFrame(1, true);
            s_file = caller.GetFileName() ?? "";
            s_line = caller.GetFileLineNumber();
            s_ilOffset = caller.GetILOffset();
            s_parked.Set();
            Thread.Sleep(Timeout.Infinite);
            return 0;
        }
    }
}
