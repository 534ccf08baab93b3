// The library's log, drained by polling (the ABI never calls back into
// managed code). Read it from the game's main thread once per frame until
// TryRead returns false, and hand the lines to BepInEx's logger.
using System;
using System.Text;

namespace Propwash
{
    public static class Log
    {
        private static readonly object Gate = new object();
        private static byte[] buffer = new byte[1024];

        /// <summary>Pops the next line; false when none is queued.</summary>
        public static bool TryRead(out string line)
        {
            lock (Gate)
            {
                for (int attempt = 0; attempt < 4; attempt++)
                {
                    UIntPtr len;
                    ResultCode r = NativeMethods.pw_log_read(ref buffer[0], (UIntPtr)(uint)buffer.Length, out len);
                    switch (r)
                    {
                        case ResultCode.Ok:
                            line = Encoding.UTF8.GetString(buffer, 0, (int)len);
                            return true;
                        case ResultCode.Empty:
                            line = null;
                            return false;
                        case ResultCode.BufferTooSmall:
                            // The line stays queued; read it again with room for it.
                            buffer = new byte[Math.Max((int)len, buffer.Length * 2)];
                            continue;
                        default:
                            throw PropwashException.From(r, "pw_log_read");
                    }
                }
                throw new PropwashException(ResultCode.BufferTooSmall, "pw_log_read", "a log line kept outgrowing the buffer");
            }
        }

        /// <summary>Sets how much is logged (a settings change, not per frame).</summary>
        public static void SetLevel(LogLevel level)
        {
            PropwashException.Check(NativeMethods.pw_log_set_level((uint)level), "pw_log_set_level");
        }
    }
}
