// Helpers that look at objects the way the GC does: addresses, MethodTables, sizes.
// Object sizes are computed from the runtime's own MethodTable (not from a formula of ours) and
// cross-checked with CoreLib's internal RuntimeHelpers.GetRawObjectDataSize when it exists.
using System;
using System.Diagnostics;
using System.IO;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace Scenarios
{
    internal static unsafe class Heap
    {
        /// <summary>The object's address (what a reference holds). Only stable while no GC can run.</summary>
        [MethodImpl(MethodImplOptions.NoInlining)]
        public static IntPtr AddressOf(object o) => Unsafe.As<object, IntPtr>(ref o);

        public static string Hex(IntPtr p) => "0x" + ((ulong)p).ToString("x");
        public static string Hex(ulong p) => "0x" + p.ToString("x");

        /// <summary>MethodTable pointer stored in the object's first pointer-sized field.</summary>
        public static IntPtr MethodTableOf(object o) => *(IntPtr*)AddressOf(o);

        public static IntPtr MethodTableOf(Type t) => t.TypeHandle.Value;

        public static uint BaseSize(IntPtr mt) => *(uint*)(mt + 4);

        /// <summary>Component size (array element size, 2 for strings), 0 for fixed-size types.</summary>
        public static uint ComponentSize(IntPtr mt)
        {
            uint flags = *(uint*)mt;
            return (flags & 0x80000000u) != 0 ? (flags & 0xFFFFu) : 0u;
        }

        public static ulong SizeFromMethodTable(IntPtr mt, ulong componentCount)
        {
            // The size SOS and ClrMD report: not rounded up (the object occupies it aligned to 8).
            ulong size = BaseSize(mt) + componentCount * ComponentSize(mt);
            return size < 24 ? 24 : size;
        }

        /// <summary>Size of an object as the GC counts it, read from its MethodTable and length field.</summary>
        public static ulong SizeOf(object o)
        {
            IntPtr addr = AddressOf(o);
            IntPtr mt = *(IntPtr*)addr;
            ulong count = ComponentSize(mt) != 0 ? *(uint*)(addr + IntPtr.Size) : 0;
            return SizeFromMethodTable(mt, count);
        }

        /// <summary>Fixed size of instances of a non-array, non-string type.</summary>
        public static ulong InstanceSize(Type t)
        {
            IntPtr mt = MethodTableOf(t);
            if (ComponentSize(mt) != 0) throw new InvalidOperationException(t + " has a component size");
            return SizeFromMethodTable(mt, 0);
        }

        private static readonly MethodInfo? s_rawDataSize =
            typeof(RuntimeHelpers).GetMethod("GetRawObjectDataSize", BindingFlags.NonPublic | BindingFlags.Static);

        public static bool HaveRawDataSize => s_rawDataSize != null;

        /// <summary>Size per CoreLib's internal GetRawObjectDataSize (+ header and MethodTable), or 0.</summary>
        public static ulong SizeByRuntime(object o)
        {
            if (s_rawDataSize == null) return 0;
            ulong raw = (ulong)(nuint)s_rawDataSize.Invoke(null, new[] { o })!;
            ulong size = (raw + 2 * (ulong)IntPtr.Size + 7) & ~7UL;
            return size < 24 ? 24 : size;
        }

        /// <summary>Throws when our MethodTable arithmetic disagrees with the runtime.</summary>
        public static ulong CheckedSizeOf(object o)
        {
            ulong ours = SizeOf(o);
            ulong rt = SizeByRuntime(o);
            if (rt != 0 && rt != ((ours + 7) & ~7UL))
                throw new InvalidOperationException($"size mismatch for {o.GetType()}: MethodTable says {ours}, runtime says {rt}");
            if (MethodTableOf(o) != o.GetType().TypeHandle.Value)
                throw new InvalidOperationException($"MethodTable of {o.GetType()} differs from its TypeHandle");
            return ours;
        }

        /// <summary>
        /// Type name as the runtime's own naming (DAC / SOS) spells it: namespace-qualified, arrays
        /// "T[]", generic arguments "[[Arg, Assembly]]" (e.g. System.Collections.Generic.List`1[[Scenarios.Invoice, Scenarios]]).
        /// </summary>
        public static string TypeName(object o) => DacName(o.GetType());

        public static string DacName(Type t)
        {
            if (t.IsArray)
                return DacName(t.GetElementType()!) + (t.GetArrayRank() == 1 && t.IsSZArray ? "[]" : "[" + new string(',', t.GetArrayRank() - 1) + "]");
            if (t.IsGenericType && !t.IsGenericTypeDefinition)
            {
                string def = t.GetGenericTypeDefinition().FullName!;
                var args = System.Linq.Enumerable.Select(t.GetGenericArguments(), a => "[" + DacName(a) + ", " + a.Assembly.GetName().Name + "]");
                return def + "[" + string.Join(",", args) + "]";
            }
            return t.FullName ?? t.Name;
        }

        /// <summary>C# spelling of generic type names (System.Collections.Generic.List&lt;Scenarios.Invoice&gt;), as ClrMD prints them.</summary>
        public static string CSharpName(Type t)
        {
            if (t.IsArray) return CSharpName(t.GetElementType()!) + "[" + new string(',', t.GetArrayRank() - 1) + "]";
            if (t.IsGenericType && !t.IsGenericTypeDefinition)
            {
                string def = t.GetGenericTypeDefinition().FullName!;
                def = def[..def.IndexOf('`')];
                return def + "<" + string.Join(", ", System.Linq.Enumerable.Select(t.GetGenericArguments(), CSharpName)) + ">";
            }
            return t.FullName ?? t.Name;
        }
    }

    internal static partial class Native
    {
        [DllImport("libc", EntryPoint = "gettid")]
        private static extern int gettid_libc();

        [DllImport("libc", EntryPoint = "syscall")]
        private static extern long syscall(long number);

        /// <summary>The calling thread's OS (kernel) thread id.</summary>
        public static int GetTid()
        {
            try { return gettid_libc(); }
            catch (EntryPointNotFoundException) { return (int)syscall(186); } // SYS_gettid on x86-64
        }

        /// <summary>State letter of a thread of this process from /proc (R, S, D, ...), or '?'.</summary>
        public static char ThreadState(int tid)
        {
            try
            {
                string stat = File.ReadAllText($"/proc/self/task/{tid}/stat");
                int close = stat.LastIndexOf(')');
                return close > 0 && close + 2 < stat.Length ? stat[close + 2] : '?';
            }
            catch (IOException) { return '?'; }
        }

        /// <summary>Waits until the thread is asleep in the kernel and its managed state says WaitSleepJoin.</summary>
        public static void WaitUntilBlocked(Thread t, Func<int> tid, string what)
        {
            var sw = Stopwatch.StartNew();
            int stableSince = -1;
            while (true)
            {
                int id = tid();
                bool blocked = id != 0
                    && (t.ThreadState & System.Threading.ThreadState.WaitSleepJoin) != 0
                    && ThreadState(id) == 'S';
                if (blocked)
                {
                    if (stableSince < 0) stableSince = (int)sw.ElapsedMilliseconds;
                    else if (sw.ElapsedMilliseconds - stableSince >= 50) return;
                }
                else stableSince = -1;
                if (sw.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException("thread never blocked: " + what);
                Thread.Sleep(5);
            }
        }
    }
}
