// Strings going in: UTF-8 bytes pinned for the duration of one call and
// described as a PwStr. Only used by calls that are not per tick (options,
// properties), so the byte[] per string is fine.
using System;
using System.Runtime.InteropServices;
using System.Text;

namespace Propwash
{
    internal struct Utf8Arg : IDisposable
    {
        private GCHandle pin;

        /// <summary>The borrowed string; {NULL, 0} for null or "".</summary>
        public readonly PwStr Str;

        public Utf8Arg(string text)
        {
            if (string.IsNullOrEmpty(text))
            {
                pin = default(GCHandle);
                Str = default(PwStr);
                return;
            }
            // Encoding.UTF8 replaces lone surrogates, so the bytes are always valid UTF-8.
            byte[] bytes = Encoding.UTF8.GetBytes(text);
            pin = GCHandle.Alloc(bytes, GCHandleType.Pinned);
            Str = new PwStr(pin.AddrOfPinnedObject(), bytes.Length);
        }

        public void Dispose()
        {
            if (pin.IsAllocated)
            {
                pin.Free();
            }
        }
    }
}

namespace Propwash
{
    /// <summary>Bytes going in: a byte[] (or its first <c>count</c> bytes) pinned for one call as a PwStr.</summary>
    internal struct BytesArg : IDisposable
    {
        private GCHandle pin;

        /// <summary>The borrowed bytes; {NULL, 0} for null or empty.</summary>
        public readonly PwStr Str;

        public BytesArg(byte[] bytes) : this(bytes, bytes == null ? 0 : bytes.Length)
        {
        }

        public BytesArg(byte[] bytes, int count)
        {
            if (bytes == null || count <= 0)
            {
                pin = default(GCHandle);
                Str = default(PwStr);
                return;
            }
            if (count > bytes.Length)
            {
                throw new ArgumentOutOfRangeException("count", count, "more than the array holds");
            }
            pin = GCHandle.Alloc(bytes, GCHandleType.Pinned);
            Str = new PwStr(pin.AddrOfPinnedObject(), count);
        }

        /// <summary>The first byte, or IntPtr.Zero.</summary>
        public IntPtr Ptr
        {
            get { return Str.Ptr; }
        }

        public void Dispose()
        {
            if (pin.IsAllocated)
            {
                pin.Free();
            }
        }
    }
}
