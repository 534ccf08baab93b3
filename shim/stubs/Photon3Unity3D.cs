// STUB reference assembly: only the Photon3Unity3D 4.x members (Exit Games'
// client library, which PUN Classic and PUN 2 both sit on) Propwash.Shim
// uses, so the plugin type-checks here. Never shipped: the real build
// references the game's DRL Simulator_Data/Managed/Photon3Unity3D.dll.
// Names and numbers are Photon's; bodies throw; nothing here ever runs.
using System;
using System.Collections.Generic;

namespace ExitGames.Client.Photon
{
    public enum StatusCode
    {
        SecurityExceptionOnConnect = 1022,
        ExceptionOnConnect = 1023,
        Connect = 1024,
        Disconnect = 1025,
        Exception = 1026,
        SendError = 1030,
        ExceptionOnReceive = 1039,
        TimeoutDisconnect = 1040,
        DisconnectByServerTimeout = 1041,
        DisconnectByServerUserLimit = 1042,
        DisconnectByServerLogic = 1043,
        DisconnectByServerReasonUnknown = 1044,
        EncryptionEstablished = 1048,
        EncryptionFailedToEstablish = 1049,
    }

    public enum PeerStateValue : byte
    {
        Disconnected = 0,
        Connecting = 1,
        Connected = 3,
        Disconnecting = 4,
        InitializingApplication = 10,
    }

    public enum DebugLevel : byte
    {
        OFF = 0,
        ERROR = 1,
        WARNING = 2,
        INFO = 3,
        ALL = 5,
    }

    public interface IPhotonPeerListener
    {
        void DebugReturn(DebugLevel level, string message);
        void OnOperationResponse(OperationResponse operationResponse);
        void OnStatusChanged(StatusCode statusCode);
        void OnEvent(EventData eventData);
    }

    public class OperationRequest
    {
        public byte OperationCode;
        public Dictionary<byte, object> Parameters;
    }

    public class OperationResponse
    {
        public byte OperationCode;
        public short ReturnCode;
        public string DebugMessage;
        public Dictionary<byte, object> Parameters;
    }

    public class EventData
    {
        public byte Code;
        public Dictionary<byte, object> Parameters;
    }

    public class Hashtable : Dictionary<object, object>
    {
        public Hashtable() { }
        public new object this[object key] { get { throw null; } set { } }
    }

    public class Protocol
    {
        public static byte[] Serialize(object obj) { throw null; }
        public static object Deserialize(byte[] serializedData) { throw null; }
    }

    public class PhotonPeer
    {
        public IPhotonPeerListener Listener { get { throw null; } }
        public PeerStateValue PeerState { get { throw null; } }
        public int ServerTimeInMilliSeconds { get { throw null; } }
        public int RoundTripTime { get { throw null; } }
    }
}
