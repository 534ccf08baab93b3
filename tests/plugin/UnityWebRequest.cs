// FAKE UnityEngine.UnityWebRequestModule.dll for tests/plugin_backend.rs:
// the UnityWebRequest members a game uses to call its backend, working, so
// that the plugin's Harmony prefix on SendWebRequest runs as it would in
// the game (through the fake Harmony's Call). Sending is synchronous, and
// it reaches loopback only: a request for any other host fails at once as
// an unresolvable host would, and is recorded, so a test shows that no
// request left the machine. Never shipped.
using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Reflection;
using System.Text;
using HarmonyLib;

namespace UnityEngine.Networking
{
    public class DownloadHandler
    {
        public byte[] data { get; internal set; }
        public string text { get { return data == null ? null : Encoding.UTF8.GetString(data); } }
    }

    public class DownloadHandlerBuffer : DownloadHandler
    {
    }

    public class UploadHandler
    {
        public byte[] data { get; protected set; }
    }

    public class UploadHandlerRaw : UploadHandler
    {
        public UploadHandlerRaw(byte[] data) { this.data = data; }
    }

    public class UnityWebRequestAsyncOperation
    {
        public UnityWebRequest webRequest { get; internal set; }
        public bool isDone { get { return true; } }
    }

    public class UnityWebRequest : IDisposable
    {
        private static readonly MethodBase SendMethod = typeof(UnityWebRequest).GetMethod("SendWebRequest");
        private string address;
        private bool sent;

        /// <summary>Not Unity: every URL a request was actually sent to, in order.</summary>
        public static readonly List<string> SentTo = new List<string>();

        public UnityWebRequest(string url, string method)
        {
            this.url = url;
            this.method = method;
            downloadHandler = new DownloadHandlerBuffer();
        }

        public string url
        {
            get { return address; }
            set
            {
                if (sent) throw new InvalidOperationException("UnityWebRequest has already been sent; its URL cannot be changed");
                address = value;
            }
        }

        public string method { get; set; }
        public UploadHandler uploadHandler { get; set; }
        public DownloadHandler downloadHandler { get; set; }
        public long responseCode { get; private set; }
        public string error { get; private set; }
        public bool isDone { get; private set; }

        public static UnityWebRequest Get(string uri)
        {
            return new UnityWebRequest(uri, "GET");
        }

        public static UnityWebRequest Post(string uri, string postData)
        {
            UnityWebRequest r = new UnityWebRequest(uri, "POST");
            r.uploadHandler = new UploadHandlerRaw(Encoding.UTF8.GetBytes(postData));
            return r;
        }

        public UnityWebRequestAsyncOperation SendWebRequest()
        {
            return (UnityWebRequestAsyncOperation)Harmony.Call(SendMethod, this, new object[0], Send);
        }

        private object Send()
        {
            sent = true;
            SentTo.Add(address);
            Uri u;
            if (!Uri.TryCreate(address, UriKind.Absolute, out u) || !u.IsLoopback)
            {
                // No network in the test: what Unity reports for a host it cannot reach.
                error = "Cannot resolve destination host";
                isDone = true;
                return new UnityWebRequestAsyncOperation { webRequest = this };
            }
            try
            {
                HttpWebRequest req = (HttpWebRequest)WebRequest.Create(u);
                req.Method = method;
                req.Proxy = null;
                req.Timeout = 15000;
                req.ReadWriteTimeout = 15000;
                byte[] body = uploadHandler == null ? null : uploadHandler.data;
                if (body != null)
                {
                    req.ContentType = "application/json";
                    req.ContentLength = body.Length;
                    using (Stream s = req.GetRequestStream()) s.Write(body, 0, body.Length);
                }
                HttpWebResponse resp;
                try
                {
                    resp = (HttpWebResponse)req.GetResponse();
                }
                catch (WebException e)
                {
                    resp = e.Response as HttpWebResponse;
                    if (resp == null) throw;
                    error = "HTTP/1.1 " + (int)resp.StatusCode;
                }
                using (resp)
                using (Stream s = resp.GetResponseStream())
                using (MemoryStream m = new MemoryStream())
                {
                    s.CopyTo(m);
                    responseCode = (long)resp.StatusCode;
                    ((DownloadHandler)downloadHandler).data = m.ToArray();
                }
            }
            catch (Exception e)
            {
                error = e.Message;
            }
            isDone = true;
            return new UnityWebRequestAsyncOperation { webRequest = this };
        }

        public void Dispose()
        {
        }
    }
}
