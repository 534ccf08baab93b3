// A failed native call: its result code and pw_last_error's text, read on
// the same thread right after the call (the text is per thread).
using System;
using System.Text;

namespace Propwash
{
    [Serializable]
    public sealed class PropwashException : Exception
    {
        /// <summary>The native result code.</summary>
        public ResultCode Code { get; private set; }

        /// <summary>pw_last_error's text, e.g. <c>PW_RESULT_ADDRESS_INVALID: `options.host_addr` ...</c>.</summary>
        public string NativeMessage { get; private set; }

        public PropwashException(ResultCode code, string call, string nativeMessage)
            : base(call + " failed: " + nativeMessage)
        {
            Code = code;
            NativeMessage = nativeMessage;
        }

        /// <summary>Throws unless <paramref name="code"/> is Ok.</summary>
        internal static void Check(ResultCode code, string call)
        {
            if (code != ResultCode.Ok)
            {
                throw From(code, call);
            }
        }

        /// <summary>The exception for a failed call, with this thread's last error.</summary>
        internal static PropwashException From(ResultCode code, string call)
        {
            return new PropwashException(code, call, LastError(code));
        }

        /// <summary>This thread's pw_last_error text, or the code's fixed description.</summary>
        internal static string LastError(ResultCode code)
        {
            byte[] buf = new byte[512];
            for (int attempt = 0; attempt < 3; attempt++)
            {
                UIntPtr len;
                ResultCode r = NativeMethods.pw_last_error(ref buf[0], (UIntPtr)(uint)buf.Length, out len);
                if (r == ResultCode.Ok)
                {
                    return Encoding.UTF8.GetString(buf, 0, (int)len);
                }
                if (r != ResultCode.BufferTooSmall)
                {
                    break;
                }
                buf = new byte[(int)len];
            }
            return Describe(code);
        }

        /// <summary>pw_result_message: a fixed description of any code.</summary>
        public static string Describe(ResultCode code)
        {
            byte[] buf = new byte[128];
            UIntPtr len;
            if (NativeMethods.pw_result_message((uint)code, ref buf[0], (UIntPtr)(uint)buf.Length, out len) == ResultCode.Ok)
            {
                return code + ": " + Encoding.UTF8.GetString(buf, 0, (int)len);
            }
            return code.ToString();
        }
    }
}
