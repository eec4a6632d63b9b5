// Scenario "strings": many distinct string objects with the same content, one 1 MiB string in the
// LOH, a JWT-like string, and a string literal (frozen / non-GC heap).
using System;
using System.Security.Cryptography;
using System.Text;

namespace Scenarios
{
    internal static class StringsScenario
    {
        public const int DuplicateCount = 1009;
        public const int DuplicateLength = 40;
        public const int LargeLength = 524288;     // 1 MiB of UTF-16
        public const string LiteralValue = "dumpscope-frozen-literal-marker";

        // No literal with the duplicated content exists anywhere: it is assembled from two halves,
        // so the heap holds exactly DuplicateCount strings with that value.
        private const string HalfA = "dumpscope-duplicate-";
        private const string HalfB = "0123456789ABCDEFGHIJ";

        internal static string[] s_duplicates = null!;
        internal static string s_large = null!;
        internal static string s_jwt = null!;
        internal static string s_literal = null!;

        public static void Setup(Truth truth)
        {
            char[] chars = new char[DuplicateLength];
            HalfA.CopyTo(0, chars, 0, HalfA.Length);
            HalfB.CopyTo(0, chars, HalfA.Length, HalfB.Length);
            s_duplicates = new string[DuplicateCount];
            for (int i = 0; i < DuplicateCount; i++) s_duplicates[i] = new string(chars);

            s_large = string.Create(LargeLength, 0, (span, _) =>
            {
                for (int i = 0; i < span.Length; i++) span[i] = (char)('a' + (i * 7 + i / 26) % 26);
            });
            truth.Precomputed["sha256:large"] = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(s_large))).ToLowerInvariant();

            string header = B64Url("{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
            string payload = B64Url("{\"sub\":\"1234567890\",\"name\":\"dumpscope scenario\",\"iat\":1516239022,\"scope\":\"dumps:read\"}");
            byte[] sig = new byte[32];
            for (int i = 0; i < sig.Length; i++) sig[i] = (byte)(i * 37 + 11);
            s_jwt = header + "." + payload + "." + B64Url(sig);

            s_literal = LiteralValue;

            truth.Strings.Add(("dup.first", () => s_duplicates[0]));
            truth.Strings.Add(("dup.last", () => s_duplicates[DuplicateCount - 1]));
            truth.Strings.Add(("large", () => s_large));
            truth.Strings.Add(("jwt", () => s_jwt));
            truth.Strings.Add(("literal", () => s_literal));
            truth.AddMarker("string.large", "loh", () => s_large);
            truth.AddMarker("string.literal", "frozen", () => s_literal);

            truth.ScenarioData.Add(("strings", w =>
            {
                w.WriteStartObject();
                w.WriteStartArray("duplicates");
                w.WriteStartObject();
                w.WriteString("value", s_duplicates[0]);
                w.WriteNumber("count", DuplicateCount);
                w.WriteNumber("length", DuplicateLength);
                w.WriteNumber("instance_size", Heap.SizeOf(s_duplicates[0]));
                w.WriteNumber("total_size", Heap.SizeOf(s_duplicates[0]) * DuplicateCount);
                w.WriteString("root", "static field Scenarios.StringsScenario.s_duplicates (System.String[])");
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteNumber("large_length", LargeLength);
                w.WriteString("large_root", "static field Scenarios.StringsScenario.s_large");
                w.WriteString("jwt_root", "static field Scenarios.StringsScenario.s_jwt");
                w.WriteString("literal_note", "C# string literal; the JIT allocates literals on the frozen (non-GC) heap");
                w.WriteEndObject();
            }));
        }

        private static string B64Url(string json) => B64Url(Encoding.UTF8.GetBytes(json));

        private static string B64Url(byte[] bytes) =>
            Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }
}
