// STAND-IN for PUN Classic 1.93 (Photon Unity Networking 1.x, the
// Assembly-CSharp-firstpass.dll of a game such as DRL Simulator) for
// tests/plugin.rs. Never shipped. Written for the test from PUN Classic's
// documented behaviour: the public names and signatures are PUN's (the
// global PhotonNetwork, PhotonView, PhotonPlayer, Room, RoomInfo,
// RoomOptions, Photon.PunBehaviour, ...), the traffic is PUN's, and so is
// every reaction to a response, event or status, but the code is the
// test's own.
//
// What goes over ExitGames.Client.Photon.PhotonPeer is what PUN Classic
// sends: the same operation, parameter and event codes, value types and
// shapes (byte-keyed Hashtables for the well-known properties, int actor
// numbers, object[] for instantiation data and RPC arguments, the RPC /
// instantiation / serialization / destroy Hashtables keyed by small bytes),
// one RaiseEvent parameter dictionary reused for every event as PUN does,
// and the connect dance: the name server for a region's master
// (ServerSettings.HostType PhotonCloud) or a master directly (SelfHosted,
// ConnectToMaster), encryption on Connect, Authenticate (with the token once
// the name server gave one), the lobby when ServerSettings.JoinLobby, and a
// Disconnect and Connect between the master and a room's game server in
// both directions. Messages come in through PhotonHandler.Update, which
// dispatches everything waiting and runs the view serialization at
// sendRateOnSerialize and SendOutgoingCommands at sendRate; a background
// thread calls SendAcksOnly while nothing was sent for a while, as PUN's
// fallback thread does. The game's callbacks go out by name with
// GameObject.SendMessage to every GameObject with a MonoBehaviour
// (OnConnectedToPhoton, OnConnectedToMaster, OnJoinedLobby, OnLeftLobby,
// OnReceivedRoomListUpdate, OnCreatedRoom, OnJoinedRoom, OnLeftRoom,
// OnPhotonCreateRoomFailed / OnPhotonJoinRoomFailed /
// OnPhotonRandomJoinFailed (object[] {short code, string message}),
// OnPhotonPlayerConnected / OnPhotonPlayerDisconnected (PhotonPlayer),
// OnMasterClientSwitched (PhotonPlayer), OnPhotonCustomRoomPropertiesChanged
// (Hashtable), OnPhotonPlayerPropertiesChanged (object[] {player, props}),
// OnDisconnectedFromPhoton, OnConnectionFail / OnFailedToConnectToPhoton
// (DisconnectCause), OnPhotonInstantiate (PhotonMessageInfo) on the new
// object, OnPhotonSerializeView on observed components).
//
// Covered: rooms (create, join by name, join or create, join random with
// expected properties and max players), the lobby's room list (GameList and
// GameListUpdate, GetRoomList), room and player properties with
// check-and-set (no local change and no callback until the server's echo),
// the server-side master client (SetMasterClient by check-and-set, the new
// master in a Leave event), PhotonView ids (actor * 1000 + n), Instantiate
// and InstantiateSceneObject with remote copies (Resources prefabs, the
// prefab cache, instantiation data), RPCs to every PhotonTargets value and
// to a player (by name; the ServerSettings.RpcList shortcut too), buffered
// RPCs, Destroy / DestroyPlayerObjects / DestroyAll with their cache
// removals, leaver cleanup (CleanupCacheOnLeave), serialization (Off,
// Unreliable, UnreliableOnChange, ReliableDeltaCompressed; MonoBehaviour and
// Transform observed components), interest groups, CloseConnection,
// RaiseEvent with OnEventCall, isMessageQueueRunning.
//
// Left out, as a game like DRL does not reach them through this test:
// offline mode, BestRegion (region pinging), AuthOnce / WSS and encryption
// data, custom authentication, friends, lobby statistics, SQL lobbies and
// GetCustomRoomList, WebRPCs, rejoin / player TTL / inactive players,
// expected users, level loading and automaticallySyncScene, ownership
// requests and transfers, object pools (IPunPrefabPool), Rigidbody and 2D
// observed components, Vector2 / Color custom types, and RPCs started as
// coroutines. Custom types are registered with the byte[] serializers the
// fake Photon3Unity3D offers.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Diagnostics;
using System.Reflection;
using ExitGames.Client.Photon;
using UnityEngine;
using Debug = UnityEngine.Debug;
using Hashtable = ExitGames.Client.Photon.Hashtable;

// ==== Photon's LoadBalancing numbers and options ===============================

public class OperationCode
{
    public const byte AuthenticateOnce = 231, Authenticate = 230, JoinLobby = 229, LeaveLobby = 228;
    public const byte CreateGame = 227, JoinGame = 226, JoinRandomGame = 225, Leave = 254;
    public const byte RaiseEvent = 253, SetProperties = 252, GetProperties = 251, ChangeGroups = 248;
    public const byte FindFriends = 222, GetRegions = 220, ServerSettings = 218, GetGameList = 217;
}

public class ParameterCode
{
    public const byte IsInactive = 233, CheckUserOnJoin = 232, ExpectedValues = 231, Address = 230;
    public const byte UserId = 225, ApplicationId = 224, MatchMakingType = 223, GameList = 222, Secret = 221, AppVersion = 220;
    public const byte RoomName = 255, ActorNr = 254, TargetActorNr = 253, ActorList = 252, Properties = 251, Broadcast = 250;
    public const byte PlayerProperties = 249, GameProperties = 248, Cache = 247, ReceiverGroup = 246, Data = 245, Code = 244;
    public const byte CleanupCacheOnLeave = 241, Group = 240, Remove = 239, Add = 238, ClientAuthenticationType = 217;
    public const byte JoinMode = 215, LobbyName = 213, LobbyType = 212, Region = 210, MasterClientId = 203, NickName = 202;
    public const byte RoomOptionFlags = 191;
}

public class EventCode
{
    public const byte GameList = 230, GameListUpdate = 229, Join = 255, Leave = 254, PropertiesChanged = 253;
}

public class ErrorCode
{
    public const int Ok = 0, OperationNotAllowedInCurrentState = -3, InvalidOperation = -2, InternalServerError = -1;
    public const int InvalidAuthentication = 32767, GameIdAlreadyExists = 32766, GameFull = 32765, GameClosed = 32764;
    public const int ServerFull = 32762, UserBlocked = 32761, NoRandomMatchFound = 32760, GameDoesNotExist = 32758;
    public const int MaxCcuReached = 32757, InvalidRegion = 32756, AuthenticationTicketExpired = 32753;
}

/// <summary>Well-known player property keys (bytes).</summary>
public class ActorProperties
{
    public const byte PlayerName = 255, IsInactive = 254, UserId = 253;
}

/// <summary>Well-known room property keys (bytes).</summary>
public class GamePropertyKey
{
    public const byte MaxPlayers = 255, IsVisible = 254, IsOpen = 253, PlayerCount = 252, Removed = 251;
    public const byte PropsListedInLobby = 250, CleanupCacheOnLeave = 249, MasterClientId = 248;
}

public enum JoinMode : byte { Default = 0, CreateIfNotExists = 1, JoinOrRejoin = 2, RejoinOnly = 3 }

public enum MatchmakingMode : byte { FillRoom = 0, SerialMatching = 1, RandomMatching = 2 }

public enum ReceiverGroup : byte { Others = 0, All = 1, MasterClient = 2 }

public enum EventCaching : byte
{
    DoNotCache = 0,
    AddToRoomCache = 4,
    AddToRoomCacheGlobal = 5,
    RemoveFromRoomCache = 6,
    RemoveFromRoomCacheForActorsLeft = 7,
}

public enum LobbyType : byte { Default = 0, SqlLobby = 2, AsyncRandomLobby = 3 }

public enum AuthModeOption { Auth, AuthOnce, AuthOnceWss }

public enum CustomAuthenticationType : byte { Custom = 0, Steam = 1, None = byte.MaxValue }

public class TypedLobby
{
    public static readonly TypedLobby Default = new TypedLobby();
    public string Name;
    public LobbyType Type;

    public TypedLobby()
    {
        Name = string.Empty;
        Type = LobbyType.Default;
    }

    public TypedLobby(string name, LobbyType type)
    {
        Name = name;
        Type = type;
    }

    public bool IsDefault
    {
        get { return Type == LobbyType.Default && string.IsNullOrEmpty(Name); }
    }
}

public class RoomOptions
{
    private bool isVisible = true, isOpen = true, cleanupCacheOnLeave = PhotonNetwork.autoCleanUpPlayerObjects;
    public byte MaxPlayers;
    public int PlayerTtl;
    public int EmptyRoomTtl;
    public Hashtable CustomRoomProperties;
    public string[] CustomRoomPropertiesForLobby = new string[0];
    public string[] Plugins;

    public bool IsVisible { get { return isVisible; } set { isVisible = value; } }
    public bool IsOpen { get { return isOpen; } set { isOpen = value; } }
    public bool CleanupCacheOnLeave { get { return cleanupCacheOnLeave; } set { cleanupCacheOnLeave = value; } }
    public bool PublishUserId { get; set; }
    public bool DeleteNullProperties { get; set; }
}

public class RaiseEventOptions
{
    public static readonly RaiseEventOptions Default = new RaiseEventOptions();
    public EventCaching CachingOption;
    public byte InterestGroup;
    public int[] TargetActors;
    public ReceiverGroup Receivers;
    public byte SequenceChannel;
    public bool ForwardToWebhook;
    public bool Encrypt;

    public void Reset()
    {
        CachingOption = Default.CachingOption;
        InterestGroup = Default.InterestGroup;
        TargetActors = Default.TargetActors;
        Receivers = Default.Receivers;
        SequenceChannel = Default.SequenceChannel;
        ForwardToWebhook = Default.ForwardToWebhook;
        Encrypt = Default.Encrypt;
    }
}

public class AuthenticationValues
{
    private CustomAuthenticationType authType = CustomAuthenticationType.None;

    public AuthenticationValues()
    {
    }

    public AuthenticationValues(string userId)
    {
        UserId = userId;
    }

    public CustomAuthenticationType AuthType { get { return authType; } set { authType = value; } }
    public string AuthGetParameters { get; set; }
    public string Token { get; set; }
    public string UserId { get; set; }
}

internal class EnterRoomParams
{
    public string RoomName;
    public RoomOptions RoomOptions;
    public TypedLobby Lobby;
    public Hashtable PlayerProperties;
    /// <summary>PUN sends the full set unless it knows it is on the master.</summary>
    public bool OnGameServer = true;
    public bool CreateIfNotExists;
}

internal class OpJoinRandomRoomParams
{
    public Hashtable ExpectedCustomRoomProperties;
    public byte ExpectedMaxPlayers;
    public MatchmakingMode MatchingType;
    public TypedLobby TypedLobby;
    public string SqlLobbyFilter;
}

/// <summary>The operations, as parameter dictionaries on PhotonPeer.SendOperation. No state.</summary>
internal class LoadBalancingPeer : PhotonPeer
{
    /// <summary>RaiseEvent fills this one dictionary every time, as PUN does: the receiver must copy what it keeps.</summary>
    private readonly Dictionary<byte, object> raiseParameters = new Dictionary<byte, object>();

    public LoadBalancingPeer(ConnectionProtocol protocolType) : base(protocolType)
    {
    }

    public virtual bool OpGetRegions(string appId)
    {
        Dictionary<byte, object> p = new Dictionary<byte, object>();
        p[ParameterCode.ApplicationId] = appId;
        return SendOperation(OperationCode.GetRegions, p, new SendOptions { Reliability = true, Encrypt = true });
    }

    public virtual bool OpJoinLobby(TypedLobby lobby)
    {
        Dictionary<byte, object> p = null;
        if (lobby != null && !lobby.IsDefault)
        {
            p = new Dictionary<byte, object>();
            p[ParameterCode.LobbyName] = lobby.Name;
            p[ParameterCode.LobbyType] = (byte)lobby.Type;
        }
        return SendOperation(OperationCode.JoinLobby, p, SendOptions.SendReliable);
    }

    public virtual bool OpLeaveLobby()
    {
        return SendOperation(OperationCode.LeaveLobby, null, SendOptions.SendReliable);
    }

    /// <summary>The room's options as CreateGame / JoinGame (create on demand) parameters on the game server.</summary>
    private static void PutRoomOptions(Dictionary<byte, object> op, RoomOptions options)
    {
        if (options == null) options = new RoomOptions();
        Hashtable game = new Hashtable();
        game[GamePropertyKey.IsOpen] = options.IsOpen;
        game[GamePropertyKey.IsVisible] = options.IsVisible;
        game[GamePropertyKey.PropsListedInLobby] = options.CustomRoomPropertiesForLobby ?? new string[0];
        game.MergeStringKeys(options.CustomRoomProperties);
        if (options.MaxPlayers > 0) game[GamePropertyKey.MaxPlayers] = options.MaxPlayers;
        op[ParameterCode.GameProperties] = game;

        // Bit 0x01 check user on join (PUN 1.88 on), 0x02 delete the cache on leave, 0x08 publish user id, 0x10 delete null properties.
        int flags = 0x01;
        op[ParameterCode.CleanupCacheOnLeave] = options.CleanupCacheOnLeave;
        if (options.CleanupCacheOnLeave)
        {
            flags |= 0x02;
            game[GamePropertyKey.CleanupCacheOnLeave] = true;
        }
        op[ParameterCode.CheckUserOnJoin] = true;
        if (options.PlayerTtl > 0 || options.PlayerTtl == -1) op[(byte)235] = options.PlayerTtl;
        if (options.EmptyRoomTtl > 0) op[(byte)236] = options.EmptyRoomTtl;
        if (options.Plugins != null) op[(byte)204] = options.Plugins;
        if (options.PublishUserId)
        {
            flags |= 0x08;
            op[(byte)239] = true;
        }
        if (options.DeleteNullProperties) flags |= 0x10;
        op[ParameterCode.RoomOptionFlags] = flags;
    }

    public virtual bool OpCreateRoom(EnterRoomParams e)
    {
        Dictionary<byte, object> op = new Dictionary<byte, object>();
        if (!string.IsNullOrEmpty(e.RoomName)) op[ParameterCode.RoomName] = e.RoomName;
        if (e.Lobby != null && !string.IsNullOrEmpty(e.Lobby.Name))
        {
            op[ParameterCode.LobbyName] = e.Lobby.Name;
            op[ParameterCode.LobbyType] = (byte)e.Lobby.Type;
        }
        if (e.OnGameServer)
        {
            if (e.PlayerProperties != null && e.PlayerProperties.Count > 0)
            {
                op[ParameterCode.PlayerProperties] = e.PlayerProperties;
                op[ParameterCode.Broadcast] = true;
            }
            PutRoomOptions(op, e.RoomOptions);
        }
        return SendOperation(OperationCode.CreateGame, op, SendOptions.SendReliable);
    }

    public virtual bool OpJoinRoom(EnterRoomParams e)
    {
        Dictionary<byte, object> op = new Dictionary<byte, object>();
        if (!string.IsNullOrEmpty(e.RoomName)) op[ParameterCode.RoomName] = e.RoomName;
        if (e.CreateIfNotExists)
        {
            op[ParameterCode.JoinMode] = (byte)JoinMode.CreateIfNotExists;
            if (e.Lobby != null)
            {
                op[ParameterCode.LobbyName] = e.Lobby.Name;
                op[ParameterCode.LobbyType] = (byte)e.Lobby.Type;
            }
        }
        if (e.OnGameServer)
        {
            if (e.PlayerProperties != null && e.PlayerProperties.Count > 0)
            {
                op[ParameterCode.PlayerProperties] = e.PlayerProperties;
                op[ParameterCode.Broadcast] = true;
            }
            if (e.CreateIfNotExists) PutRoomOptions(op, e.RoomOptions);
        }
        return SendOperation(OperationCode.JoinGame, op, SendOptions.SendReliable);
    }

    public virtual bool OpJoinRandomRoom(OpJoinRandomRoomParams r)
    {
        Hashtable expected = new Hashtable();
        expected.MergeStringKeys(r.ExpectedCustomRoomProperties);
        if (r.ExpectedMaxPlayers > 0) expected[GamePropertyKey.MaxPlayers] = r.ExpectedMaxPlayers;
        Dictionary<byte, object> op = new Dictionary<byte, object>();
        if (expected.Count > 0) op[ParameterCode.GameProperties] = expected;
        if (r.MatchingType != MatchmakingMode.FillRoom) op[ParameterCode.MatchMakingType] = (byte)r.MatchingType;
        if (r.TypedLobby != null && !string.IsNullOrEmpty(r.TypedLobby.Name))
        {
            op[ParameterCode.LobbyName] = r.TypedLobby.Name;
            op[ParameterCode.LobbyType] = (byte)r.TypedLobby.Type;
        }
        if (!string.IsNullOrEmpty(r.SqlLobbyFilter)) op[ParameterCode.Data] = r.SqlLobbyFilter;
        return SendOperation(OperationCode.JoinRandomGame, op, SendOptions.SendReliable);
    }

    public virtual bool OpLeaveRoom(bool becomeInactive)
    {
        Dictionary<byte, object> p = null;
        if (becomeInactive)
        {
            p = new Dictionary<byte, object>();
            p[ParameterCode.IsInactive] = true;
        }
        return SendOperation(OperationCode.Leave, p, SendOptions.SendReliable);
    }

    protected internal bool OpSetPropertiesOfActor(int actorNr, Hashtable actorProperties, Hashtable expectedProperties)
    {
        if (actorNr <= 0 || actorProperties == null) return false;
        Dictionary<byte, object> p = new Dictionary<byte, object>();
        p.Add(ParameterCode.Properties, actorProperties);
        p.Add(ParameterCode.ActorNr, actorNr);
        p.Add(ParameterCode.Broadcast, true);
        if (expectedProperties != null && expectedProperties.Count != 0) p.Add(ParameterCode.ExpectedValues, expectedProperties);
        return SendOperation(OperationCode.SetProperties, p, new SendOptions { Reliability = true });
    }

    protected internal bool OpSetPropertiesOfRoom(Hashtable gameProperties, Hashtable expectedProperties)
    {
        Dictionary<byte, object> p = new Dictionary<byte, object>();
        p.Add(ParameterCode.Properties, gameProperties);
        p.Add(ParameterCode.Broadcast, true);
        if (expectedProperties != null && expectedProperties.Count != 0) p.Add(ParameterCode.ExpectedValues, expectedProperties);
        return SendOperation(OperationCode.SetProperties, p, new SendOptions { Reliability = true });
    }

    public virtual bool OpAuthenticate(string appId, string appVersion, AuthenticationValues auth, string regionCode)
    {
        Dictionary<byte, object> p = new Dictionary<byte, object>();
        if (auth != null && auth.Token != null)
        {
            // With the name server's token the master and game servers need nothing else.
            p[ParameterCode.Secret] = auth.Token;
            return SendOperation(OperationCode.Authenticate, p, new SendOptions { Reliability = true });
        }
        p[ParameterCode.AppVersion] = appVersion;
        p[ParameterCode.ApplicationId] = appId;
        if (!string.IsNullOrEmpty(regionCode)) p[ParameterCode.Region] = regionCode;
        if (auth != null && !string.IsNullOrEmpty(auth.UserId)) p[ParameterCode.UserId] = auth.UserId;
        bool sent = SendOperation(OperationCode.Authenticate, p, new SendOptions { Reliability = true, Encrypt = IsEncryptionAvailable });
        if (!sent) Listener.DebugReturn(DebugLevel.ERROR, "Error calling OpAuthenticate! Did not work. Check log output, AuthValues and if you're connected.");
        return sent;
    }

    public virtual bool OpChangeGroups(byte[] groupsToRemove, byte[] groupsToAdd)
    {
        Dictionary<byte, object> p = new Dictionary<byte, object>();
        if (groupsToRemove != null) p[ParameterCode.Remove] = groupsToRemove;
        if (groupsToAdd != null) p[ParameterCode.Add] = groupsToAdd;
        return SendOperation(OperationCode.ChangeGroups, p, SendOptions.SendReliable);
    }

    public virtual bool OpRaiseEvent(byte eventCode, object customEventContent, bool sendReliable, RaiseEventOptions options)
    {
        raiseParameters.Clear();
        raiseParameters[ParameterCode.Code] = eventCode;
        if (customEventContent != null) raiseParameters[ParameterCode.Data] = customEventContent;
        if (options == null)
        {
            options = RaiseEventOptions.Default;
        }
        else
        {
            if (options.CachingOption != EventCaching.DoNotCache) raiseParameters[ParameterCode.Cache] = (byte)options.CachingOption;
            if (options.Receivers != ReceiverGroup.Others) raiseParameters[ParameterCode.ReceiverGroup] = (byte)options.Receivers;
            if (options.InterestGroup != 0) raiseParameters[ParameterCode.Group] = options.InterestGroup;
            if (options.TargetActors != null) raiseParameters[ParameterCode.ActorList] = options.TargetActors;
        }
        SendOptions send = new SendOptions { Reliability = sendReliable, Channel = options.SequenceChannel, Encrypt = options.Encrypt };
        return SendOperation(OperationCode.RaiseEvent, raiseParameters, send);
    }

    /// <summary>The same with Photon's SendOptions for reliability and channel (PUN warns when they differ from the options').</summary>
    public virtual bool OpRaiseEvent(byte eventCode, object customEventContent, RaiseEventOptions options, SendOptions sendOptions)
    {
        raiseParameters.Clear();
        raiseParameters[ParameterCode.Code] = eventCode;
        if (customEventContent != null) raiseParameters[ParameterCode.Data] = customEventContent;
        if (options != null)
        {
            if (sendOptions.Channel != options.SequenceChannel || sendOptions.Encrypt != options.Encrypt)
            {
                Listener.DebugReturn(DebugLevel.WARNING, "You are using RaiseEventOptions and SendOptions with conflicting settings. Please check channel and encryption value.");
            }
            if (options.CachingOption != EventCaching.DoNotCache) raiseParameters[ParameterCode.Cache] = (byte)options.CachingOption;
            if (options.Receivers != ReceiverGroup.Others) raiseParameters[ParameterCode.ReceiverGroup] = (byte)options.Receivers;
            if (options.InterestGroup != 0) raiseParameters[ParameterCode.Group] = options.InterestGroup;
            if (options.TargetActors != null) raiseParameters[ParameterCode.ActorList] = options.TargetActors;
        }
        return SendOperation(OperationCode.RaiseEvent, raiseParameters, sendOptions);
    }
}

// ==== PUN's enums ===============================================================

public enum ClientState
{
    Uninitialized,
    PeerCreated,
    Queued,
    Authenticated,
    JoinedLobby,
    DisconnectingFromMasterserver,
    ConnectingToGameserver,
    ConnectedToGameserver,
    Joining,
    Joined,
    Leaving,
    DisconnectingFromGameserver,
    ConnectingToMasterserver,
    QueuedComingFromGameserver,
    Disconnecting,
    Disconnected,
    ConnectedToMaster,
    ConnectingToNameServer,
    ConnectedToNameServer,
    DisconnectingFromNameServer,
    Authenticating,
}

internal enum JoinType { CreateRoom, JoinRoom, JoinRandomRoom, JoinOrCreateRoom }

public enum DisconnectCause
{
    DisconnectByServerUserLimit = StatusCode.DisconnectByServerUserLimit,
    ExceptionOnConnect = StatusCode.ExceptionOnConnect,
    DisconnectByServerTimeout = StatusCode.DisconnectByServerTimeout,
    DisconnectByServerLogic = StatusCode.DisconnectByServerLogic,
    Exception = StatusCode.Exception,
    InvalidAuthentication = ErrorCode.InvalidAuthentication,
    MaxCcuReached = ErrorCode.MaxCcuReached,
    InvalidRegion = ErrorCode.InvalidRegion,
    SecurityExceptionOnConnect = StatusCode.SecurityExceptionOnConnect,
    DisconnectByClientTimeout = StatusCode.TimeoutDisconnect,
    InternalReceiveException = StatusCode.ExceptionOnReceive,
    AuthenticationTicketExpired = 32753,
}

public enum ServerConnection { MasterServer, GameServer, NameServer }

public enum PhotonNetworkingMessage
{
    OnConnectedToPhoton,
    OnLeftRoom,
    OnMasterClientSwitched,
    OnPhotonCreateRoomFailed,
    OnPhotonJoinRoomFailed,
    OnCreatedRoom,
    OnJoinedLobby,
    OnLeftLobby,
    OnDisconnectedFromPhoton,
    OnConnectionFail,
    OnFailedToConnectToPhoton,
    OnReceivedRoomListUpdate,
    OnJoinedRoom,
    OnPhotonPlayerConnected,
    OnPhotonPlayerDisconnected,
    OnPhotonRandomJoinFailed,
    OnConnectedToMaster,
    OnPhotonSerializeView,
    OnPhotonInstantiate,
    OnPhotonMaxCccuReached,
    OnPhotonCustomRoomPropertiesChanged,
    OnPhotonPlayerPropertiesChanged,
    OnUpdatedFriendList,
    OnCustomAuthenticationFailed,
    OnCustomAuthenticationResponse,
    OnWebRpcResponse,
    OnOwnershipRequest,
    OnLobbyStatisticsUpdate,
    OnPhotonPlayerActivityChanged,
    OnOwnershipTransfered,
}

public enum PhotonLogLevel { ErrorsOnly, Informational, Full }

public enum PhotonTargets { All, Others, MasterClient, AllBuffered, OthersBuffered, AllViaServer, AllBufferedViaServer }

public enum CloudRegionCode { eu = 0, us = 1, asia = 2, jp = 3, au = 5, usw = 6, sa = 7, cae = 8, kr = 9, @in = 10, ru = 11, rue = 12, none = 4 }

public enum ConnectionState { Disconnected, Connecting, Connected, Disconnecting, InitializingApplication }

public enum ViewSynchronization { Off, ReliableDeltaCompressed, Unreliable, UnreliableOnChange }

public enum OnSerializeTransform { OnlyPosition, OnlyRotation, OnlyScale, PositionAndRotation, All }

/// <summary>PUN's own event codes (200 and up; games use 0 to 199).</summary>
internal class PunEvent
{
    public const byte RPC = 200, SendSerialize = 201, Instantiation = 202, CloseConnection = 203, Destroy = 204;
    public const byte SendSerializeReliable = 206, DestroyPlayer = 207, AssignMaster = 208;
}

// ==== settings, helpers, custom types ===========================================

/// <summary>The PhotonServerSettings asset, loaded from Resources.</summary>
[Serializable]
public class ServerSettings : ScriptableObject
{
    public enum HostingOption { NotSet = 0, PhotonCloud = 1, SelfHosted = 2, OfflineMode = 3, BestRegion = 4 }

    public string AppID = "";
    public HostingOption HostType = HostingOption.NotSet;
    public CloudRegionCode PreferredRegion;
    public ConnectionProtocol Protocol = ConnectionProtocol.Udp;
    public string ServerAddress = "";
    public int ServerPort = 5055;
    public bool JoinLobby;
    public bool EnableLobbyStatistics;
    public PhotonLogLevel PunLogging = PhotonLogLevel.ErrorsOnly;
    public DebugLevel NetworkLogging = DebugLevel.ERROR;
    public bool RunInBackground = true;
    public List<string> RpcList = new List<string>();
}

public static class Extensions
{
    public static PhotonView[] GetPhotonViewsInChildren(this GameObject go)
    {
        return go.GetComponentsInChildren<PhotonView>(true);
    }

    public static PhotonView GetPhotonView(this GameObject go)
    {
        return go.GetComponent<PhotonView>();
    }

    public static bool AlmostEquals(this Vector3 target, Vector3 second, float sqrMagnitudePrecision)
    {
        return (target - second).sqrMagnitude < sqrMagnitudePrecision;
    }

    public static bool AlmostEquals(this Quaternion target, Quaternion second, float maxAngle)
    {
        return Quaternion.Angle(target, second) < maxAngle;
    }

    public static bool AlmostEquals(this float target, float second, float floatDiff)
    {
        return Math.Abs(target - second) < floatDiff;
    }

    /// <summary>Copies every entry of <paramref name="addHash"/> into <paramref name="target"/>.</summary>
    public static void Merge(this IDictionary target, IDictionary addHash)
    {
        if (addHash == null || target.Equals(addHash)) return;
        foreach (object key in Keys(addHash)) target[key] = addHash[key];
    }

    /// <summary>Copies the entries with string keys (the game's own properties).</summary>
    public static void MergeStringKeys(this IDictionary target, IDictionary addHash)
    {
        if (addHash == null || target.Equals(addHash)) return;
        foreach (object key in Keys(addHash))
        {
            if (key is string) target[key] = addHash[key];
        }
    }

    /// <summary>A new Hashtable of the string-keyed entries (an empty one for null).</summary>
    public static Hashtable StripToStringKeys(this IDictionary original)
    {
        Hashtable t = new Hashtable();
        if (original == null) return t;
        foreach (DictionaryEntry e in original)
        {
            if (e.Key is string) t[e.Key] = e.Value;
        }
        return t;
    }

    /// <summary>Removes the entries whose value is null (a removed property).</summary>
    public static void StripKeysWithNullValues(this IDictionary original)
    {
        List<object> gone = new List<object>();
        foreach (DictionaryEntry e in original)
        {
            if (e.Value == null) gone.Add(e.Key);
        }
        foreach (object k in gone) original.Remove(k);
    }

    public static string ToStringFull(this IDictionary origin)
    {
        return SupportClass.DictionaryToString(origin, false);
    }

    public static bool Contains(this int[] target, int nr)
    {
        if (target == null) return false;
        foreach (int i in target)
        {
            if (i == nr) return true;
        }
        return false;
    }

    /// <summary>The keys, copied (the target may be the same table's view).</summary>
    private static List<object> Keys(IDictionary d)
    {
        List<object> keys = new List<object>();
        foreach (object k in d.Keys) keys.Add(k);
        return keys;
    }
}

/// <summary>Vector3 ('V'), Quaternion ('Q') and PhotonPlayer ('P', as its actor number) as Photon custom types.</summary>
internal static class CustomTypes
{
    internal static void Register()
    {
        PhotonPeer.RegisterType(typeof(Vector3), (byte)'V', WriteVector3, ReadVector3);
        PhotonPeer.RegisterType(typeof(Quaternion), (byte)'Q', WriteQuaternion, ReadQuaternion);
        PhotonPeer.RegisterType(typeof(PhotonPlayer), (byte)'P', WritePlayer, ReadPlayer);
    }

    private static byte[] WriteVector3(object o)
    {
        Vector3 v = (Vector3)o;
        byte[] b = new byte[12];
        int at = 0;
        Protocol.Serialize(v.x, b, ref at);
        Protocol.Serialize(v.y, b, ref at);
        Protocol.Serialize(v.z, b, ref at);
        return b;
    }

    private static object ReadVector3(byte[] b)
    {
        Vector3 v = new Vector3();
        int at = 0;
        Protocol.Deserialize(out v.x, b, ref at);
        Protocol.Deserialize(out v.y, b, ref at);
        Protocol.Deserialize(out v.z, b, ref at);
        return v;
    }

    private static byte[] WriteQuaternion(object o)
    {
        Quaternion q = (Quaternion)o;
        byte[] b = new byte[16];
        int at = 0;
        Protocol.Serialize(q.w, b, ref at);
        Protocol.Serialize(q.x, b, ref at);
        Protocol.Serialize(q.y, b, ref at);
        Protocol.Serialize(q.z, b, ref at);
        return b;
    }

    private static object ReadQuaternion(byte[] b)
    {
        Quaternion q = new Quaternion();
        int at = 0;
        Protocol.Deserialize(out q.w, b, ref at);
        Protocol.Deserialize(out q.x, b, ref at);
        Protocol.Deserialize(out q.y, b, ref at);
        Protocol.Deserialize(out q.z, b, ref at);
        return q;
    }

    private static byte[] WritePlayer(object o)
    {
        byte[] b = new byte[4];
        int at = 0;
        Protocol.Serialize(((PhotonPlayer)o).ID, b, ref at);
        return b;
    }

    private static object ReadPlayer(byte[] b)
    {
        int id, at = 0;
        Protocol.Deserialize(out id, b, ref at);
        return PhotonPlayer.Find(id);
    }
}

// ==== the game-facing types ======================================================

/// <summary>Marks a method PhotonView.RPC may call.</summary>
[AttributeUsage(AttributeTargets.Method)]
public class PunRPC : Attribute
{
}

public interface IPunObservable
{
    void OnPhotonSerializeView(PhotonStream stream, PhotonMessageInfo info);
}

/// <summary>Who sent an RPC, instantiation or view update, when (the sender's server timestamp) and on which view.</summary>
public struct PhotonMessageInfo
{
    private readonly int timeInt;
    public readonly PhotonPlayer sender;
    public readonly PhotonView photonView;

    public PhotonMessageInfo(PhotonPlayer player, int timestamp, PhotonView view)
    {
        sender = player;
        timeInt = timestamp;
        photonView = view;
    }

    /// <summary>Seconds, from the server timestamp read as unsigned milliseconds.</summary>
    public double timestamp
    {
        get { return (uint)timeInt / 1000.0; }
    }

    public override string ToString()
    {
        return string.Format("[PhotonMessageInfo: Sender='{1}' Senttime={0}]", timestamp, sender);
    }
}

/// <summary>The values a view writes in OnPhotonSerializeView, or reads back on the other side.</summary>
public class PhotonStream
{
    private bool write;
    private readonly Queue<object> writeData;
    private object[] readData;
    internal byte currentItem;

    public PhotonStream(bool write, object[] incomingData)
    {
        this.write = write;
        if (incomingData == null) writeData = new Queue<object>(10);
        else readData = incomingData;
    }

    public bool isWriting { get { return write; } }
    public bool isReading { get { return !write; } }

    public int Count
    {
        get { return write ? writeData.Count : readData.Length; }
    }

    internal void SetReadStream(object[] incomingData, byte pos)
    {
        readData = incomingData;
        currentItem = pos;
        write = false;
    }

    internal void ResetWriteStream()
    {
        writeData.Clear();
    }

    public void SendNext(object obj)
    {
        if (!write)
        {
            Debug.LogError("Error: you cannot write/send to this stream that you are reading!");
            return;
        }
        writeData.Enqueue(obj);
    }

    public object ReceiveNext()
    {
        if (write)
        {
            Debug.LogError("Error: you cannot read this stream that you are writing!");
            return null;
        }
        return readData[currentItem++];
    }

    public object PeekNext()
    {
        if (write)
        {
            Debug.LogError("Error: you cannot read this stream that you are writing!");
            return null;
        }
        return readData[currentItem];
    }

    public object[] ToArray()
    {
        return write ? writeData.ToArray() : readData;
    }

    public void Serialize(ref int value)
    {
        if (write) writeData.Enqueue(value);
        else if (readData.Length > currentItem) value = (int)readData[currentItem++];
    }

    public void Serialize(ref float value)
    {
        if (write) writeData.Enqueue(value);
        else if (readData.Length > currentItem) value = (float)readData[currentItem++];
    }

    public void Serialize(ref Vector3 value)
    {
        if (write) writeData.Enqueue(value);
        else if (readData.Length > currentItem) value = (Vector3)readData[currentItem++];
    }

    public void Serialize(ref Quaternion value)
    {
        if (write) writeData.Enqueue(value);
        else if (readData.Length > currentItem) value = (Quaternion)readData[currentItem++];
    }
}

namespace Photon
{
    /// <summary>A MonoBehaviour with its GameObject's PhotonView at hand.</summary>
    public class MonoBehaviour : UnityEngine.MonoBehaviour
    {
        private PhotonView pvCache;

        public PhotonView photonView
        {
            get
            {
                if (pvCache == null) pvCache = PhotonView.Get(this);
                return pvCache;
            }
        }
    }

    /// <summary>Every PUN callback as an empty virtual method, for games to override.</summary>
    public class PunBehaviour : MonoBehaviour
    {
        public virtual void OnConnectedToPhoton() { }
        public virtual void OnLeftRoom() { }
        public virtual void OnMasterClientSwitched(PhotonPlayer newMasterClient) { }
        public virtual void OnPhotonCreateRoomFailed(object[] codeAndMsg) { }
        public virtual void OnPhotonJoinRoomFailed(object[] codeAndMsg) { }
        public virtual void OnCreatedRoom() { }
        public virtual void OnJoinedLobby() { }
        public virtual void OnLeftLobby() { }
        public virtual void OnFailedToConnectToPhoton(DisconnectCause cause) { }
        public virtual void OnDisconnectedFromPhoton() { }
        public virtual void OnConnectionFail(DisconnectCause cause) { }
        public virtual void OnPhotonInstantiate(PhotonMessageInfo info) { }
        public virtual void OnReceivedRoomListUpdate() { }
        public virtual void OnJoinedRoom() { }
        public virtual void OnPhotonPlayerConnected(PhotonPlayer newPlayer) { }
        public virtual void OnPhotonPlayerDisconnected(PhotonPlayer otherPlayer) { }
        public virtual void OnPhotonRandomJoinFailed(object[] codeAndMsg) { }
        public virtual void OnConnectedToMaster() { }
        public virtual void OnPhotonMaxCccuReached() { }
        public virtual void OnPhotonCustomRoomPropertiesChanged(Hashtable propertiesThatChanged) { }
        public virtual void OnPhotonPlayerPropertiesChanged(object[] playerAndUpdatedProps) { }
    }
}

public class PhotonPlayer : IComparable<PhotonPlayer>, IEquatable<PhotonPlayer>
{
    private int actorID = -1;
    private string nameField = "";
    public readonly bool IsLocal;
    public object TagObject;

    public PhotonPlayer(bool isLocal, int actorID, string name)
    {
        CustomProperties = new Hashtable();
        IsLocal = isLocal;
        this.actorID = actorID;
        nameField = name;
    }

    protected internal PhotonPlayer(bool isLocal, int actorID, Hashtable properties)
    {
        CustomProperties = new Hashtable();
        IsLocal = isLocal;
        this.actorID = actorID;
        InternalCacheProperties(properties);
    }

    public int ID
    {
        get { return actorID; }
    }

    public string NickName
    {
        get { return nameField; }
        set
        {
            if (!IsLocal)
            {
                Debug.LogError("Error: Cannot change the name of a remote player!");
                return;
            }
            if (string.IsNullOrEmpty(value) || value.Equals(nameField)) return;
            nameField = value;
            PhotonNetwork.playerName = value;
        }
    }

    public string UserId { get; internal set; }
    public bool IsInactive { get; set; }
    public Hashtable CustomProperties { get; internal set; }

    public bool IsMasterClient
    {
        get { return PhotonNetwork.networkingPeer.mMasterClientId == ID; }
    }

    /// <summary>The custom properties and the name (key 255), as a join sends them.</summary>
    public Hashtable AllProperties
    {
        get
        {
            Hashtable all = new Hashtable();
            all.Merge(CustomProperties);
            all[ActorProperties.PlayerName] = NickName;
            return all;
        }
    }

    public static PhotonPlayer Find(int ID)
    {
        return PhotonNetwork.networkingPeer == null ? null : PhotonNetwork.networkingPeer.GetPlayerWithId(ID);
    }

    internal void InternalChangeLocalID(int newID)
    {
        if (!IsLocal)
        {
            Debug.LogError("ERROR You should never change PhotonPlayer IDs!");
            return;
        }
        actorID = newID;
    }

    /// <summary>Takes the well-known keys (name, user id, inactive) and merges the string-keyed ones, dropping nulls.</summary>
    internal void InternalCacheProperties(Hashtable properties)
    {
        if (properties == null || properties.Count == 0 || CustomProperties.Equals(properties)) return;
        if (properties.ContainsKey(ActorProperties.PlayerName)) nameField = (string)properties[ActorProperties.PlayerName];
        if (properties.ContainsKey(ActorProperties.UserId)) UserId = (string)properties[ActorProperties.UserId];
        if (properties.ContainsKey(ActorProperties.IsInactive)) IsInactive = (bool)properties[ActorProperties.IsInactive];
        CustomProperties.MergeStringKeys(properties);
        CustomProperties.StripKeysWithNullValues();
    }

    /// <summary>
    /// Sets this player's properties. Without expected values they apply at once here (with
    /// OnPhotonPlayerPropertiesChanged) and go to the server; with them (check-and-set) nothing
    /// changes here until the server's PropertiesChanged event says it held.
    /// </summary>
    public void SetCustomProperties(Hashtable propertiesToSet, Hashtable expectedValues = null, bool webForward = false)
    {
        if (propertiesToSet == null) return;
        Hashtable customProps = propertiesToSet.StripToStringKeys();
        Hashtable toCheck = expectedValues == null ? null : expectedValues.StripToStringKeys();
        bool noCas = toCheck == null || toCheck.Count == 0;
        bool inOnlineRoom = actorID > 0;
        if (noCas)
        {
            CustomProperties.Merge(customProps);
            CustomProperties.StripKeysWithNullValues();
        }
        if (inOnlineRoom) PhotonNetwork.networkingPeer.OpSetPropertiesOfActor(actorID, customProps, toCheck);
        if (!inOnlineRoom || noCas)
        {
            InternalCacheProperties(customProps);
            NetworkingPeer.SendMonoMessage(PhotonNetworkingMessage.OnPhotonPlayerPropertiesChanged, this, customProps);
        }
    }

    public PhotonPlayer GetNext()
    {
        Dictionary<int, PhotonPlayer> players = PhotonNetwork.networkingPeer == null ? null : PhotonNetwork.networkingPeer.mActors;
        if (players == null || players.Count < 2) return null;
        int next = int.MaxValue, lowest = ID;
        foreach (int id in players.Keys)
        {
            if (id < lowest) lowest = id;
            else if (id > ID && id < next) next = id;
        }
        return players[next != int.MaxValue ? next : lowest];
    }

    public override bool Equals(object p)
    {
        PhotonPlayer pp = p as PhotonPlayer;
        return pp != null && GetHashCode() == pp.GetHashCode();
    }

    public bool Equals(PhotonPlayer other)
    {
        return other != null && GetHashCode() == other.GetHashCode();
    }

    public int CompareTo(PhotonPlayer other)
    {
        return other == null ? 0 : GetHashCode().CompareTo(other.GetHashCode());
    }

    public override int GetHashCode()
    {
        return ID;
    }

    public override string ToString()
    {
        if (string.IsNullOrEmpty(NickName)) return string.Format("#{0:00}{1}{2}", ID, IsInactive ? " (inactive)" : " ", IsMasterClient ? "(master)" : "");
        return string.Format("'{0}'{1}{2}", NickName, IsInactive ? " (inactive)" : " ", IsMasterClient ? "(master)" : "");
    }
}

/// <summary>A room as the lobby lists it (read-only), and the base of the room the client is in.</summary>
public class RoomInfo
{
    private readonly Hashtable customPropertiesField = new Hashtable();
    protected byte maxPlayersField;
    protected bool openField = true;
    protected bool visibleField = true;
    protected bool autoCleanUpField = PhotonNetwork.autoCleanUpPlayerObjects;
    protected string nameField;
    protected internal int masterClientIdField;
    protected int playerTtlField;

    protected internal RoomInfo(string roomName, Hashtable properties)
    {
        InternalCacheProperties(properties);
        nameField = roomName;
    }

    public bool removedFromList { get; internal set; }
    protected internal bool serverSideMasterClient { get; private set; }
    public Hashtable CustomProperties { get { return customPropertiesField; } }
    public string Name { get { return nameField; } }
    public int PlayerCount { get; private set; }
    public bool IsLocalClientInside { get; set; }
    public byte MaxPlayers { get { return maxPlayersField; } }
    public bool IsOpen { get { return openField; } }
    public bool IsVisible { get { return visibleField; } }

    /// <summary>
    /// Takes the well-known keys (removed, max players, open, visible, player count, cleanup,
    /// master client: its presence makes the master server-side, and a later change is
    /// OnMasterClientSwitched) and merges the string-keyed ones, dropping nulls.
    /// </summary>
    protected internal void InternalCacheProperties(Hashtable props)
    {
        if (props == null || props.Count == 0 || customPropertiesField.Equals(props)) return;
        if (props.ContainsKey(GamePropertyKey.Removed))
        {
            removedFromList = (bool)props[GamePropertyKey.Removed];
            if (removedFromList) return;
        }
        if (props.ContainsKey(GamePropertyKey.MaxPlayers)) maxPlayersField = (byte)props[GamePropertyKey.MaxPlayers];
        if (props.ContainsKey(GamePropertyKey.IsOpen)) openField = (bool)props[GamePropertyKey.IsOpen];
        if (props.ContainsKey(GamePropertyKey.IsVisible)) visibleField = (bool)props[GamePropertyKey.IsVisible];
        if (props.ContainsKey(GamePropertyKey.PlayerCount)) PlayerCount = (byte)props[GamePropertyKey.PlayerCount];
        if (props.ContainsKey(GamePropertyKey.CleanupCacheOnLeave)) autoCleanUpField = (bool)props[GamePropertyKey.CleanupCacheOnLeave];
        if (props.ContainsKey(GamePropertyKey.MasterClientId))
        {
            serverSideMasterClient = true;
            bool update = masterClientIdField != 0;
            masterClientIdField = (int)props[GamePropertyKey.MasterClientId];
            if (update) PhotonNetwork.networkingPeer.UpdateMasterClient();
        }
        customPropertiesField.MergeStringKeys(props);
        customPropertiesField.StripKeysWithNullValues();
    }

    public override bool Equals(object other)
    {
        RoomInfo r = other as RoomInfo;
        return r != null && Name.Equals(r.nameField);
    }

    public override int GetHashCode()
    {
        return nameField.GetHashCode();
    }

    public override string ToString()
    {
        return string.Format("Room: '{0}' {1},{2} {4}/{3} players.", nameField, visibleField ? "visible" : "hidden", openField ? "open" : "closed", maxPlayersField, PlayerCount);
    }
}

/// <summary>The room this client is in.</summary>
public class Room : RoomInfo
{
    internal Room(string roomName, RoomOptions options) : base(roomName, null)
    {
        if (options == null) options = new RoomOptions();
        visibleField = options.IsVisible;
        openField = options.IsOpen;
        maxPlayersField = options.MaxPlayers;
        autoCleanUpField = options.CleanupCacheOnLeave;
        InternalCacheProperties(options.CustomRoomProperties);
        PropertiesListedInLobby = options.CustomRoomPropertiesForLobby;
    }

    public new string Name
    {
        get { return nameField; }
        internal set { nameField = value; }
    }

    /// <summary>Setting it sends the well-known key and applies it here at once.</summary>
    public new bool IsOpen
    {
        get { return openField; }
        set
        {
            if (!Equals(PhotonNetwork.room)) Debug.LogWarning("Can't set open when not in that room.");
            if (value != openField) PhotonNetwork.networkingPeer.OpSetPropertiesOfRoom(new Hashtable { { GamePropertyKey.IsOpen, value } }, null);
            openField = value;
        }
    }

    public new bool IsVisible
    {
        get { return visibleField; }
        set
        {
            if (!Equals(PhotonNetwork.room)) Debug.LogWarning("Can't set visible when not in that room.");
            if (value != visibleField) PhotonNetwork.networkingPeer.OpSetPropertiesOfRoom(new Hashtable { { GamePropertyKey.IsVisible, value } }, null);
            visibleField = value;
        }
    }

    public new int MaxPlayers
    {
        get { return maxPlayersField; }
        set
        {
            if (!Equals(PhotonNetwork.room)) Debug.LogWarning("Can't set MaxPlayers when not in that room.");
            if (value > 255) value = 255;
            if (value != maxPlayersField) PhotonNetwork.networkingPeer.OpSetPropertiesOfRoom(new Hashtable { { GamePropertyKey.MaxPlayers, (byte)value } }, null);
            maxPlayersField = (byte)value;
        }
    }

    /// <summary>The players this client knows in the room.</summary>
    public new int PlayerCount
    {
        get { return PhotonNetwork.playerList.Length; }
    }

    public string[] PropertiesListedInLobby { get; private set; }
    public bool AutoCleanUp { get { return autoCleanUpField; } }
    public int PlayerTtl { get { return playerTtlField; } }

    protected internal int MasterClientId
    {
        get { return masterClientIdField; }
        set { masterClientIdField = value; }
    }

    /// <summary>
    /// Sets room properties. Without expected values they apply at once here (with
    /// OnPhotonCustomRoomPropertiesChanged) and go to the server; with them (check-and-set)
    /// nothing changes here until the server's PropertiesChanged event says it held.
    /// </summary>
    public void SetCustomProperties(Hashtable propertiesToSet, Hashtable expectedValues = null, bool webForward = false)
    {
        if (propertiesToSet == null) return;
        Hashtable customProps = propertiesToSet.StripToStringKeys();
        Hashtable toCheck = expectedValues == null ? null : expectedValues.StripToStringKeys();
        bool noCas = toCheck == null || toCheck.Count == 0;
        if (noCas)
        {
            CustomProperties.Merge(customProps);
            CustomProperties.StripKeysWithNullValues();
        }
        PhotonNetwork.networkingPeer.OpSetPropertiesOfRoom(customProps, toCheck);
        if (noCas) NetworkingPeer.SendMonoMessage(PhotonNetworkingMessage.OnPhotonCustomRoomPropertiesChanged, customProps);
    }

    public override string ToString()
    {
        return string.Format("Room: '{0}' {1},{2} {4}/{3} players.", nameField, visibleField ? "visible" : "hidden", openField ? "open" : "closed", maxPlayersField, PlayerCount);
    }
}

/// <summary>A networked object's identity: viewID = creator actor * 1000 + n (0 for scene objects).</summary>
public class PhotonView : Photon.MonoBehaviour
{
    public int ownerId;
    public byte group;
    protected internal bool mixedModeIsReliable;
    public bool OwnerShipWasTransfered;
    public int prefixBackup = -1;
    internal object[] instantiationDataField;
    protected internal object[] lastOnSerializeDataSent;
    protected internal object[] lastOnSerializeDataReceived;
    public ViewSynchronization synchronization;
    public OnSerializeTransform onSerializeTransformOption = OnSerializeTransform.PositionAndRotation;
    public List<Component> ObservedComponents;
    [SerializeField]
    private int viewIdField;
    public int instantiationId;
    public int currentMasterID = -1;
    protected internal bool didAwake;
    [SerializeField]
    protected internal bool isRuntimeInstantiated;
    protected internal bool removedFromLocalViewList;
    internal UnityEngine.MonoBehaviour[] RpcMonoBehaviours;
    private readonly Dictionary<Component, MethodInfo> onSerializeMethods = new Dictionary<Component, MethodInfo>();

    /// <summary>The level prefix; the room's current one until set.</summary>
    public int prefix
    {
        get
        {
            if (prefixBackup == -1 && PhotonNetwork.networkingPeer != null) prefixBackup = PhotonNetwork.networkingPeer.currentLevelPrefix;
            return prefixBackup;
        }
        set { prefixBackup = value; }
    }

    public object[] instantiationData
    {
        get
        {
            if (!didAwake) instantiationDataField = PhotonNetwork.networkingPeer.FetchInstantiationData(instantiationId);
            return instantiationDataField;
        }
        set { instantiationDataField = value; }
    }

    /// <summary>Setting it also sets the owner (viewID / 1000); a view that woke without an id registers now.</summary>
    public int viewID
    {
        get { return viewIdField; }
        set
        {
            bool register = didAwake && viewIdField == 0;
            ownerId = value / PhotonNetwork.MAX_VIEW_IDS;
            viewIdField = value;
            if (register) PhotonNetwork.networkingPeer.RegisterPhotonView(this);
        }
    }

    public bool isSceneView { get { return CreatorActorNr == 0; } }
    public PhotonPlayer owner { get { return PhotonPlayer.Find(ownerId); } }
    public int OwnerActorNr { get { return ownerId; } }
    public int CreatorActorNr { get { return viewIdField / PhotonNetwork.MAX_VIEW_IDS; } }

    public bool isOwnerActive
    {
        get { return ownerId != 0 && PhotonNetwork.networkingPeer.mActors.ContainsKey(ownerId); }
    }

    /// <summary>Ours, or the master's while its owner is not in the room (scene views, a leaver's).</summary>
    public bool isMine
    {
        get { return ownerId == PhotonNetwork.player.ID || (!isOwnerActive && PhotonNetwork.isMasterClient); }
    }

    protected internal void Awake()
    {
        if (viewID != 0)
        {
            PhotonNetwork.networkingPeer.RegisterPhotonView(this);
            instantiationDataField = PhotonNetwork.networkingPeer.FetchInstantiationData(instantiationId);
        }
        didAwake = true;
    }

    /// <summary>Scene views follow the master client.</summary>
    public void OnMasterClientSwitched(PhotonPlayer newMasterClient)
    {
        if (CreatorActorNr == 0 && !OwnerShipWasTransfered && (currentMasterID == -1 || ownerId == currentMasterID)) ownerId = newMasterClient.ID;
        currentMasterID = newMasterClient.ID;
    }

    protected internal void OnDestroy()
    {
        if (!removedFromLocalViewList) PhotonNetwork.networkingPeer.LocalCleanPhotonView(this);
    }

    public void SerializeView(PhotonStream stream, PhotonMessageInfo info)
    {
        if (ObservedComponents == null) return;
        foreach (Component c in ObservedComponents) SerializeComponent(c, stream, info);
    }

    public void DeserializeView(PhotonStream stream, PhotonMessageInfo info)
    {
        if (ObservedComponents == null) return;
        foreach (Component c in ObservedComponents) DeserializeComponent(c, stream, info);
    }

    protected internal void SerializeComponent(Component component, PhotonStream stream, PhotonMessageInfo info)
    {
        if (component == null) return;
        if (component is UnityEngine.MonoBehaviour)
        {
            ExecuteComponentOnSerialize(component, stream, info);
        }
        else if (component is Transform)
        {
            Transform t = (Transform)component;
            if (onSerializeTransformOption != OnSerializeTransform.OnlyRotation) stream.SendNext(t.position);
            if (onSerializeTransformOption != OnSerializeTransform.OnlyPosition) stream.SendNext(t.rotation);
        }
        else
        {
            Debug.LogError("Observed type is not serializable: " + component.GetType());
        }
    }

    protected internal void DeserializeComponent(Component component, PhotonStream stream, PhotonMessageInfo info)
    {
        if (component == null) return;
        if (component is UnityEngine.MonoBehaviour)
        {
            ExecuteComponentOnSerialize(component, stream, info);
        }
        else if (component is Transform)
        {
            Transform t = (Transform)component;
            if (onSerializeTransformOption != OnSerializeTransform.OnlyRotation) t.position = (Vector3)stream.ReceiveNext();
            if (onSerializeTransformOption != OnSerializeTransform.OnlyPosition) t.rotation = (Quaternion)stream.ReceiveNext();
        }
        else
        {
            Debug.LogError("Type of observed is unknown when receiving.");
        }
    }

    /// <summary>IPunObservable, else a method named OnPhotonSerializeView(PhotonStream, PhotonMessageInfo).</summary>
    protected internal void ExecuteComponentOnSerialize(Component component, PhotonStream stream, PhotonMessageInfo info)
    {
        IPunObservable observable = component as IPunObservable;
        if (observable != null)
        {
            observable.OnPhotonSerializeView(stream, info);
            return;
        }
        MethodInfo m;
        if (!onSerializeMethods.TryGetValue(component, out m))
        {
            m = component.GetType().GetMethod(PhotonNetworkingMessage.OnPhotonSerializeView.ToString(), BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance, null,
                new[] { typeof(PhotonStream), typeof(PhotonMessageInfo) }, null);
            if (m == null) Debug.LogError("The observed monobehaviour (" + component.name + ") of this PhotonView does not implement OnPhotonSerializeView()!");
            onSerializeMethods.Add(component, m);
        }
        if (m != null) m.Invoke(component, new object[] { stream, info });
    }

    public void RefreshRpcMonoBehaviourCache()
    {
        RpcMonoBehaviours = GetComponents<UnityEngine.MonoBehaviour>();
    }

    public void RPC(string methodName, PhotonTargets target, params object[] parameters)
    {
        PhotonNetwork.RPC(this, methodName, target, false, parameters);
    }

    public void RPC(string methodName, PhotonPlayer targetPlayer, params object[] parameters)
    {
        PhotonNetwork.RPC(this, methodName, targetPlayer, false, parameters);
    }

    public static PhotonView Get(Component component)
    {
        return component.GetComponent<PhotonView>();
    }

    public static PhotonView Get(GameObject gameObj)
    {
        return gameObj.GetComponent<PhotonView>();
    }

    public static PhotonView Find(int viewID)
    {
        return PhotonNetwork.networkingPeer.GetPhotonView(viewID);
    }

    public override string ToString()
    {
        return string.Format("View ({3}){0} on {1} {2}", viewID, gameObject != null ? gameObject.name : "GO==null", isSceneView ? "(scene)" : string.Empty, prefix);
    }
}

// ==== the client: state machine, rooms, views ===================================

/// <summary>PUN's client: the peer, its own listener, and everything known about the room.</summary>
internal class NetworkingPeer : LoadBalancingPeer, IPhotonPeerListener
{
    public const string NameServerHost = "ns.exitgames.com";
    /// <summary>PUN sends each view's values from index 3 on: 0 the view id, 1 whether compressed, 2 the indexes now null.</summary>
    private const int SyncViewId = 0, SyncCompressed = 1, SyncNullValues = 2, SyncFirstValue = 3;
    /// <summary>At most this many view updates go in one serialization event.</summary>
    public static int ObjectsInOneUpdate = 10;
    public static bool UsePrefabCache = true;
    public static Dictionary<string, GameObject> PrefabCache = new Dictionary<string, GameObject>();

    protected internal string AppId;
    private string tokenCache;
    public AuthModeOption AuthMode = AuthModeOption.Auth;
    public bool IsInitialConnect;
    public bool insideLobby;
    public Dictionary<string, RoomInfo> mGameList = new Dictionary<string, RoomInfo>();
    public RoomInfo[] mGameListCopy = new RoomInfo[0];
    private string playername = "";
    private bool mPlayernameHasToBeUpdated;
    private Room currentRoom;
    private JoinType lastJoinType;
    protected internal EnterRoomParams enterRoomParamsCache;
    private bool didAuthenticate;
    public Dictionary<int, PhotonPlayer> mActors = new Dictionary<int, PhotonPlayer>();
    public PhotonPlayer[] mOtherPlayerListCopy = new PhotonPlayer[0];
    public PhotonPlayer[] mPlayerListCopy = new PhotonPlayer[0];
    public bool hasSwitchedMC;
    private HashSet<byte> allowedReceivingGroups = new HashSet<byte>();
    private HashSet<byte> blockSendingGroups = new HashSet<byte>();
    protected internal Dictionary<int, PhotonView> photonViewList = new Dictionary<int, PhotonView>();
    private readonly PhotonStream readStream = new PhotonStream(false, null);
    private readonly PhotonStream pStream = new PhotonStream(true, null);
    private readonly Dictionary<int, Hashtable> dataPerGroupReliable = new Dictionary<int, Hashtable>();
    private readonly Dictionary<int, Hashtable> dataPerGroupUnreliable = new Dictionary<int, Hashtable>();
    protected internal short currentLevelPrefix;
    private readonly Dictionary<Type, List<MethodInfo>> monoRPCMethodsCache = new Dictionary<Type, List<MethodInfo>>();
    private readonly Dictionary<string, int> rpcShortcuts;
    private readonly Dictionary<int, object[]> tempInstantiationData = new Dictionary<int, object[]>();
    private readonly RaiseEventOptions serializeOptions = new RaiseEventOptions();

    public NetworkingPeer(string playername, ConnectionProtocol connectionProtocol) : base(connectionProtocol)
    {
        Listener = this;
        LimitOfUnreliableCommands = 40;
        lobby = TypedLobby.Default;
        PlayerName = playername;
        LocalPlayer = new PhotonPlayer(true, -1, this.playername);
        AddNewPlayer(LocalPlayer.ID, LocalPlayer);
        rpcShortcuts = new Dictionary<string, int>();
        List<string> rpcs = PhotonNetwork.PhotonServerSettings.RpcList;
        for (int i = 0; i < rpcs.Count; i++) rpcShortcuts[rpcs[i]] = i;
        State = ClientState.PeerCreated;
    }

    public AuthenticationValues AuthValues { get; set; }
    public bool IsUsingNameServer { get; protected internal set; }
    public string MasterServerAddress { get; protected internal set; }
    public string GameServerAddress { get; protected internal set; }
    protected internal ServerConnection Server { get; private set; }
    public TypedLobby lobby { get; set; }
    public CloudRegionCode CloudRegion { get; protected internal set; }
    public PhotonPlayer LocalPlayer { get; internal set; }

    private ClientState state;

    public ClientState State
    {
        get { return state; }
        internal set
        {
            if (value != state) PhotonNetwork.Note("state " + value);
            state = value;
        }
    }

    protected internal string AppVersion
    {
        get { return string.Format("{0}_{1}", PhotonNetwork.gameVersion, PhotonNetwork.versionPUN); }
    }

    /// <summary>The name server for the protocol in use (UDP 5058).</summary>
    public string NameServerAddress
    {
        get
        {
            int port = TransportProtocol == ConnectionProtocol.Tcp ? 4533 : TransportProtocol == ConnectionProtocol.WebSocket ? 9093
                : TransportProtocol == ConnectionProtocol.WebSocketSecure ? 19093 : 5058;
            string scheme = TransportProtocol == ConnectionProtocol.WebSocket ? "ws://" : TransportProtocol == ConnectionProtocol.WebSocketSecure ? "wss://" : "";
            return scheme + NameServerHost + ":" + port;
        }
    }

    public string PlayerName
    {
        get { return playername; }
        set
        {
            if (string.IsNullOrEmpty(value) || value.Equals(playername)) return;
            if (LocalPlayer != null) LocalPlayer.NickName = value;
            playername = value;
            if (CurrentRoom != null) SendPlayerName();
        }
    }

    /// <summary>The room, once the game server said we are in it.</summary>
    public Room CurrentRoom
    {
        get { return currentRoom != null && currentRoom.IsLocalClientInside ? currentRoom : null; }
        private set { currentRoom = value; }
    }

    /// <summary>The master client's actor number, as the room holds it (0 outside one).</summary>
    public int mMasterClientId
    {
        get { return CurrentRoom == null ? 0 : CurrentRoom.MasterClientId; }
        private set
        {
            if (CurrentRoom != null) CurrentRoom.MasterClientId = value;
        }
    }

    // ---- connecting -----------------------------------------------------------

    public override bool Connect(string serverAddress, string applicationName)
    {
        Debug.LogError("Avoid using this directly. Thanks.");
        return false;
    }

    public bool Connect(string serverAddress, ServerConnection type)
    {
        if (State == ClientState.Disconnecting)
        {
            Debug.LogError("Connect() failed. Can't connect while disconnecting (still). Current state: " + PhotonNetwork.connectionStateDetailed);
            return false;
        }
        PhotonNetwork.Note("connect " + type + " " + serverAddress);
        bool connecting = base.Connect(serverAddress, "", null);
        if (connecting)
        {
            State = type == ServerConnection.NameServer ? ClientState.ConnectingToNameServer
                : type == ServerConnection.MasterServer ? ClientState.ConnectingToMasterserver : ClientState.ConnectingToGameserver;
        }
        return connecting;
    }

    /// <summary>The name server, then (after Authenticate names it) the region's master.</summary>
    public bool ConnectToRegionMaster(CloudRegionCode region)
    {
        IsUsingNameServer = true;
        CloudRegion = region;
        if (State == ClientState.ConnectedToNameServer) return CallAuthenticate();
        PhotonNetwork.Note("connect " + ServerConnection.NameServer + " " + NameServerAddress);
        if (!base.Connect(NameServerAddress, "ns", null)) return false;
        State = ClientState.ConnectingToNameServer;
        return true;
    }

    public override void Disconnect()
    {
        if (PeerState == PeerStateValue.Disconnected)
        {
            Debug.LogWarning(string.Format("Can't execute Disconnect() while not connected. Nothing changed. State: {0}", State));
            return;
        }
        State = ClientState.Disconnecting;
        base.Disconnect();
    }

    private bool CallAuthenticate()
    {
        AuthenticationValues auth = AuthValues ?? new AuthenticationValues { UserId = PlayerName };
        return OpAuthenticate(AppId, AppVersion, auth, CloudRegion.ToString());
    }

    /// <summary>Leaves the current server on purpose; the Disconnect status then connects to the next one.</summary>
    private void DisconnectToReconnect()
    {
        switch (Server)
        {
            case ServerConnection.NameServer:
                State = ClientState.DisconnectingFromNameServer;
                break;
            case ServerConnection.MasterServer:
                State = ClientState.DisconnectingFromMasterserver;
                break;
            case ServerConnection.GameServer:
                State = ClientState.DisconnectingFromGameserver;
                break;
        }
        base.Disconnect();
    }

    public bool OpCreateGame(EnterRoomParams e)
    {
        bool onGameServer = Server == ServerConnection.GameServer;
        e.OnGameServer = onGameServer;
        e.PlayerProperties = GetLocalActorProperties();
        if (!onGameServer) enterRoomParamsCache = e;
        lastJoinType = JoinType.CreateRoom;
        return OpCreateRoom(e);
    }

    public override bool OpJoinRoom(EnterRoomParams e)
    {
        bool onGameServer = Server == ServerConnection.GameServer;
        e.OnGameServer = onGameServer;
        if (!onGameServer) enterRoomParamsCache = e;
        lastJoinType = e.CreateIfNotExists ? JoinType.JoinOrCreateRoom : JoinType.JoinRoom;
        return base.OpJoinRoom(e);
    }

    public override bool OpJoinRandomRoom(OpJoinRandomRoomParams r)
    {
        enterRoomParamsCache = new EnterRoomParams { Lobby = r.TypedLobby };
        lastJoinType = JoinType.JoinRandomRoom;
        return base.OpJoinRandomRoom(r);
    }

    // ---- players and properties -------------------------------------------------

    /// <summary>
    /// Properties from the server: one actor's (targetActorNr), every actor's (a table per actor
    /// number) and the room's, each with its callback.
    /// </summary>
    private void ReadoutProperties(Hashtable gameProperties, Hashtable actorProperties, int targetActorNr)
    {
        if (actorProperties != null && actorProperties.Count > 0)
        {
            if (targetActorNr > 0)
            {
                PhotonPlayer target = GetPlayerWithId(targetActorNr);
                if (target != null)
                {
                    Hashtable props = actorProperties.ContainsKey(targetActorNr) ? (Hashtable)actorProperties[targetActorNr] : actorProperties;
                    target.InternalCacheProperties(props);
                    SendMonoMessage(PhotonNetworkingMessage.OnPhotonPlayerPropertiesChanged, target, props);
                }
            }
            else
            {
                foreach (object key in new List<object>(actorProperties.Keys))
                {
                    int actorNr = (int)key;
                    Hashtable props = (Hashtable)actorProperties[key];
                    PhotonPlayer target = GetPlayerWithId(actorNr);
                    if (target == null)
                    {
                        target = new PhotonPlayer(false, actorNr, (string)props[ActorProperties.PlayerName]);
                        AddNewPlayer(actorNr, target);
                    }
                    target.InternalCacheProperties(props);
                    SendMonoMessage(PhotonNetworkingMessage.OnPhotonPlayerPropertiesChanged, target, props);
                }
            }
        }
        if (CurrentRoom != null && gameProperties != null)
        {
            CurrentRoom.InternalCacheProperties(gameProperties);
            SendMonoMessage(PhotonNetworkingMessage.OnPhotonCustomRoomPropertiesChanged, gameProperties);
        }
    }

    public void ChangeLocalID(int newID)
    {
        if (mActors.ContainsKey(LocalPlayer.ID)) mActors.Remove(LocalPlayer.ID);
        LocalPlayer.InternalChangeLocalID(newID);
        mActors[LocalPlayer.ID] = LocalPlayer;
        RebuildPlayerListCopies();
    }

    private void AddNewPlayer(int id, PhotonPlayer player)
    {
        if (mActors.ContainsKey(id))
        {
            Debug.LogError("Adding player twice: " + id);
            return;
        }
        mActors[id] = player;
        RebuildPlayerListCopies();
    }

    private void RemovePlayer(int id, PhotonPlayer player)
    {
        mActors.Remove(id);
        if (!player.IsLocal) RebuildPlayerListCopies();
    }

    private void RebuildPlayerListCopies()
    {
        mPlayerListCopy = new PhotonPlayer[mActors.Count];
        mActors.Values.CopyTo(mPlayerListCopy, 0);
        List<PhotonPlayer> others = new List<PhotonPlayer>();
        foreach (PhotonPlayer p in mPlayerListCopy)
        {
            if (!p.IsLocal) others.Add(p);
        }
        mOtherPlayerListCopy = others.ToArray();
    }

    /// <summary>Placeholders for actors in the list we do not know yet.</summary>
    protected internal void UpdatedActorList(int[] actorsInRoom)
    {
        foreach (int nr in actorsInRoom)
        {
            if (LocalPlayer.ID != nr && !mActors.ContainsKey(nr)) AddNewPlayer(nr, new PhotonPlayer(false, nr, string.Empty));
        }
    }

    protected internal PhotonPlayer GetPlayerWithId(int number)
    {
        PhotonPlayer p = null;
        if (mActors != null) mActors.TryGetValue(number, out p);
        return p;
    }

    private void SendPlayerName()
    {
        if (State == ClientState.Joining)
        {
            mPlayernameHasToBeUpdated = true;
            return;
        }
        if (LocalPlayer == null) return;
        LocalPlayer.NickName = PlayerName;
        if (LocalPlayer.ID > 0)
        {
            OpSetPropertiesOfActor(LocalPlayer.ID, new Hashtable { { ActorProperties.PlayerName, PlayerName } }, null);
            mPlayernameHasToBeUpdated = false;
        }
    }

    private Hashtable GetLocalActorProperties()
    {
        if (PhotonNetwork.player != null) return PhotonNetwork.player.AllProperties;
        return new Hashtable { { ActorProperties.PlayerName, PlayerName } };
    }

    /// <summary>The master leaving (or none chosen yet): the lowest actor number; a callback only when someone left.</summary>
    private void CheckMasterClient(int leavingPlayerId)
    {
        bool someoneIsLeaving = leavingPlayerId > 0;
        if (someoneIsLeaving && mMasterClientId != leavingPlayerId) return;
        int lowest;
        if (mActors.Count <= 1)
        {
            lowest = LocalPlayer.ID;
        }
        else
        {
            lowest = int.MaxValue;
            foreach (int key in mActors.Keys)
            {
                if (key < lowest && key != leavingPlayerId) lowest = key;
            }
        }
        mMasterClientId = lowest;
        if (someoneIsLeaving) SendMonoMessage(PhotonNetworkingMessage.OnMasterClientSwitched, GetPlayerWithId(lowest));
    }

    internal protected void UpdateMasterClient()
    {
        SendMonoMessage(PhotonNetworkingMessage.OnMasterClientSwitched, PhotonNetwork.masterClient);
    }

    /// <summary>With a server-side master client: the well-known key, by check-and-set on the current master.</summary>
    public bool SetMasterClient(int nextMasterId)
    {
        Hashtable next = new Hashtable { { GamePropertyKey.MasterClientId, nextMasterId } };
        Hashtable now = new Hashtable { { GamePropertyKey.MasterClientId, mMasterClientId } };
        return OpSetPropertiesOfRoom(next, now);
    }

    /// <summary>Without one: the master says so in an event (208) and it applies here at once.</summary>
    internal protected bool SetMasterClient(int playerId, bool sync)
    {
        if (mMasterClientId == playerId || !mActors.ContainsKey(playerId)) return false;
        if (sync && !OpRaiseEvent(PunEvent.AssignMaster, new Hashtable { { (byte)1, playerId } }, true, null)) return false;
        hasSwitchedMC = true;
        CurrentRoom.MasterClientId = playerId;
        SendMonoMessage(PhotonNetworkingMessage.OnMasterClientSwitched, GetPlayerWithId(playerId));
        return true;
    }

    // ---- leaving --------------------------------------------------------------------

    private void LeftLobbyCleanup()
    {
        mGameList = new Dictionary<string, RoomInfo>();
        mGameListCopy = new RoomInfo[0];
        if (insideLobby)
        {
            insideLobby = false;
            SendMonoMessage(PhotonNetworkingMessage.OnLeftLobby);
        }
    }

    /// <summary>Forgets the room, its players and (with the room's cleanup) everything instantiated; OnLeftRoom if we were in one.</summary>
    private void LeftRoomCleanup()
    {
        bool wasInRoom = CurrentRoom != null;
        bool autoCleanup = CurrentRoom != null ? CurrentRoom.AutoCleanUp : PhotonNetwork.autoCleanUpPlayerObjects;
        hasSwitchedMC = false;
        CurrentRoom = null;
        mActors = new Dictionary<int, PhotonPlayer>();
        mPlayerListCopy = new PhotonPlayer[0];
        mOtherPlayerListCopy = new PhotonPlayer[0];
        allowedReceivingGroups = new HashSet<byte>();
        blockSendingGroups = new HashSet<byte>();
        mGameList = new Dictionary<string, RoomInfo>();
        mGameListCopy = new RoomInfo[0];
        ChangeLocalID(-1);
        if (autoCleanup)
        {
            LocalCleanupAnythingInstantiated(true);
            PhotonNetwork.manuallyAllocatedViewIds = new List<int>();
        }
        if (wasInRoom) SendMonoMessage(PhotonNetworkingMessage.OnLeftRoom);
    }

    protected internal void LocalCleanupAnythingInstantiated(bool destroyInstantiatedGameObjects)
    {
        if (destroyInstantiatedGameObjects)
        {
            HashSet<GameObject> gos = new HashSet<GameObject>();
            foreach (PhotonView v in photonViewList.Values)
            {
                if (v.isRuntimeInstantiated) gos.Add(v.gameObject);
            }
            foreach (GameObject go in gos) RemoveInstantiatedGO(go, true);
        }
        tempInstantiationData.Clear();
        PhotonNetwork.lastUsedViewSubId = 0;
        PhotonNetwork.lastUsedViewSubIdStatic = 0;
    }

    // ---- entering a room on the game server --------------------------------------

    /// <summary>
    /// The game server's answer to CreateGame / JoinGame: a refusal is the matching failure
    /// callback and the way back to the master; else the room, our actor number, everyone's
    /// properties (with their callbacks), OnCreatedRoom for a create. OnJoinedRoom waits for our
    /// own Join event.
    /// </summary>
    private void GameEnteredOnGameServer(OperationResponse r)
    {
        if (r.ReturnCode != 0)
        {
            switch (r.OperationCode)
            {
                case OperationCode.CreateGame:
                    SendMonoMessage(PhotonNetworkingMessage.OnPhotonCreateRoomFailed, r.ReturnCode, r.DebugMessage);
                    break;
                case OperationCode.JoinGame:
                    SendMonoMessage(PhotonNetworkingMessage.OnPhotonJoinRoomFailed, r.ReturnCode, r.DebugMessage);
                    break;
                case OperationCode.JoinRandomGame:
                    SendMonoMessage(PhotonNetworkingMessage.OnPhotonRandomJoinFailed, r.ReturnCode, r.DebugMessage);
                    break;
            }
            DisconnectToReconnect();
            return;
        }
        Room room = new Room(enterRoomParamsCache.RoomName, enterRoomParamsCache.RoomOptions);
        room.IsLocalClientInside = true;
        CurrentRoom = room;
        State = ClientState.Joined;
        if (r.Parameters.ContainsKey(ParameterCode.ActorList)) UpdatedActorList((int[])r.Parameters[ParameterCode.ActorList]);
        ChangeLocalID((int)r[ParameterCode.ActorNr]);
        ReadoutProperties((Hashtable)r[ParameterCode.GameProperties], (Hashtable)r[ParameterCode.PlayerProperties], 0);
        if (!CurrentRoom.serverSideMasterClient) CheckMasterClient(-1);
        if (mPlayernameHasToBeUpdated) SendPlayerName();
        if (r.OperationCode == OperationCode.CreateGame) SendMonoMessage(PhotonNetworkingMessage.OnCreatedRoom);
    }

    /// <summary>Views that send only changes send everything again (a new player has nothing).</summary>
    private void ResetPhotonViewsOnSerialize()
    {
        foreach (PhotonView v in photonViewList.Values) v.lastOnSerializeDataSent = null;
    }

    /// <summary>Someone left: a new master first (the server's, or the lowest), then their objects, then the callback.</summary>
    private void HandleEventLeave(int actorID, EventData ev)
    {
        PhotonPlayer player = GetPlayerWithId(actorID);
        if (player == null)
        {
            Debug.LogError(string.Format("Received event Leave for unknown player ID: {0}", actorID));
            return;
        }
        if (ev.Parameters.ContainsKey(ParameterCode.MasterClientId))
        {
            int newMaster = (int)ev[ParameterCode.MasterClientId];
            if (newMaster != 0)
            {
                mMasterClientId = newMaster;
                UpdateMasterClient();
            }
        }
        else if (!CurrentRoom.serverSideMasterClient)
        {
            CheckMasterClient(actorID);
        }
        if (CurrentRoom != null && CurrentRoom.AutoCleanUp) DestroyPlayerObjects(actorID, true);
        RemovePlayer(actorID, player);
        SendMonoMessage(PhotonNetworkingMessage.OnPhotonPlayerDisconnected, player);
    }

    // ---- IPhotonPeerListener ----------------------------------------------------

    public void DebugReturn(DebugLevel level, string message)
    {
        if (level == DebugLevel.ERROR) Debug.LogError(message);
        else if (level == DebugLevel.WARNING) Debug.LogWarning(message);
        else if (level == DebugLevel.INFO && PhotonNetwork.logLevel >= PhotonLogLevel.Informational) Debug.Log(message);
        else if (level == DebugLevel.ALL && PhotonNetwork.logLevel == PhotonLogLevel.Full) Debug.Log(message);
    }

    public void OnOperationResponse(OperationResponse r)
    {
        if (State == ClientState.Disconnecting) return;
        if (r.ReturnCode == ErrorCode.NoRandomMatchFound) Debug.LogWarning("Operation failed: " + r.ToStringFull());
        else if (r.ReturnCode != 0) Debug.LogError("Operation failed: " + r.ToStringFull() + " Server: " + Server);

        if (r.Parameters.ContainsKey(ParameterCode.Secret))
        {
            if (AuthValues == null) AuthValues = new AuthenticationValues();
            AuthValues.Token = r[ParameterCode.Secret] as string;
            tokenCache = AuthValues.Token;
        }

        switch (r.OperationCode)
        {
            case OperationCode.Authenticate:
            case OperationCode.AuthenticateOnce:
                Authenticated(r);
                break;
            case OperationCode.CreateGame:
                if (Server == ServerConnection.GameServer)
                {
                    GameEnteredOnGameServer(r);
                    break;
                }
                if (r.ReturnCode != 0)
                {
                    State = insideLobby ? ClientState.JoinedLobby : ClientState.ConnectedToMaster;
                    SendMonoMessage(PhotonNetworkingMessage.OnPhotonCreateRoomFailed, r.ReturnCode, r.DebugMessage);
                    break;
                }
                string created = (string)r[ParameterCode.RoomName];
                if (!string.IsNullOrEmpty(created)) enterRoomParamsCache.RoomName = created;
                GameServerAddress = (string)r[ParameterCode.Address];
                DisconnectToReconnect();
                break;
            case OperationCode.JoinGame:
                if (Server == ServerConnection.GameServer)
                {
                    GameEnteredOnGameServer(r);
                    break;
                }
                if (r.ReturnCode != 0)
                {
                    SendMonoMessage(PhotonNetworkingMessage.OnPhotonJoinRoomFailed, r.ReturnCode, r.DebugMessage);
                    break;
                }
                GameServerAddress = (string)r[ParameterCode.Address];
                DisconnectToReconnect();
                break;
            case OperationCode.JoinRandomGame:
                if (r.ReturnCode != 0)
                {
                    SendMonoMessage(PhotonNetworkingMessage.OnPhotonRandomJoinFailed, r.ReturnCode, r.DebugMessage);
                    break;
                }
                enterRoomParamsCache.RoomName = (string)r[ParameterCode.RoomName];
                GameServerAddress = (string)r[ParameterCode.Address];
                DisconnectToReconnect();
                break;
            case OperationCode.JoinLobby:
                State = ClientState.JoinedLobby;
                insideLobby = true;
                SendMonoMessage(PhotonNetworkingMessage.OnJoinedLobby);
                break;
            case OperationCode.LeaveLobby:
                State = ClientState.Authenticated;
                LeftLobbyCleanup();
                break;
            case OperationCode.Leave:
                DisconnectToReconnect();
                break;
            case OperationCode.SetProperties:
            case OperationCode.RaiseEvent:
                break;
            case OperationCode.GetRegions:
                // A fixed region never asks (BestRegion, which does, is left out).
                break;
            default:
                Debug.LogWarning(string.Format("OperationResponse unhandled: {0}", r));
                break;
        }
    }

    /// <summary>
    /// Authenticate answered: a refusal disconnects; on the name server the master's address and
    /// off to it; on the master the lobby (ServerSettings.JoinLobby) or OnConnectedToMaster; on
    /// the game server the create or join the master planned.
    /// </summary>
    private void Authenticated(OperationResponse r)
    {
        if (r.ReturnCode != 0)
        {
            if (r.ReturnCode == ErrorCode.InvalidAuthentication) SendMonoMessage(PhotonNetworkingMessage.OnFailedToConnectToPhoton, DisconnectCause.InvalidAuthentication);
            else Debug.LogError(string.Format("Authentication failed: '{0}' Code: {1}", r.DebugMessage, r.ReturnCode));
            State = ClientState.Disconnecting;
            Disconnect();
            if (r.ReturnCode == ErrorCode.MaxCcuReached) SendMonoMessage(PhotonNetworkingMessage.OnConnectionFail, DisconnectCause.MaxCcuReached);
            else if (r.ReturnCode == ErrorCode.InvalidRegion) SendMonoMessage(PhotonNetworkingMessage.OnConnectionFail, DisconnectCause.InvalidRegion);
            else if (r.ReturnCode == ErrorCode.AuthenticationTicketExpired) SendMonoMessage(PhotonNetworkingMessage.OnConnectionFail, DisconnectCause.AuthenticationTicketExpired);
            return;
        }
        if (Server == ServerConnection.NameServer || Server == ServerConnection.MasterServer)
        {
            string userId = r.Parameters.ContainsKey(ParameterCode.UserId) ? r.Parameters[ParameterCode.UserId] as string : null;
            if (!string.IsNullOrEmpty(userId))
            {
                if (AuthValues == null) AuthValues = new AuthenticationValues();
                AuthValues.UserId = userId;
                PhotonNetwork.player.UserId = userId;
            }
            if (r.Parameters.ContainsKey(ParameterCode.NickName)) PlayerName = (string)r.Parameters[ParameterCode.NickName];
        }
        if (Server == ServerConnection.NameServer)
        {
            MasterServerAddress = r[ParameterCode.Address] as string;
            DisconnectToReconnect();
        }
        else if (Server == ServerConnection.MasterServer)
        {
            if (PhotonNetwork.autoJoinLobby)
            {
                State = ClientState.Authenticated;
                OpJoinLobby(lobby);
            }
            else
            {
                State = ClientState.ConnectedToMaster;
                SendMonoMessage(PhotonNetworkingMessage.OnConnectedToMaster);
            }
        }
        else if (Server == ServerConnection.GameServer)
        {
            State = ClientState.Joining;
            enterRoomParamsCache.PlayerProperties = GetLocalActorProperties();
            enterRoomParamsCache.OnGameServer = true;
            if (lastJoinType == JoinType.CreateRoom) OpCreateGame(enterRoomParamsCache);
            else OpJoinRoom(enterRoomParamsCache);
        }
    }

    public void OnStatusChanged(StatusCode statusCode)
    {
        DisconnectCause cause;
        switch (statusCode)
        {
            case StatusCode.Connect:
                if (State == ClientState.ConnectingToNameServer)
                {
                    Server = ServerConnection.NameServer;
                    if (AuthValues != null) AuthValues.Token = null;
                }
                if (State == ClientState.ConnectingToGameserver)
                {
                    Server = ServerConnection.GameServer;
                    State = ClientState.ConnectedToGameserver;
                }
                if (State == ClientState.ConnectingToMasterserver)
                {
                    Server = ServerConnection.MasterServer;
                    State = ClientState.Authenticating;
                    if (IsInitialConnect)
                    {
                        IsInitialConnect = false;
                        SendMonoMessage(PhotonNetworkingMessage.OnConnectedToPhoton);
                    }
                }
                // PUN's Auth mode (its default) establishes encryption on every server.
                EstablishEncryption();
                break;
            case StatusCode.EncryptionEstablished:
                if (Server == ServerConnection.NameServer) State = ClientState.ConnectedToNameServer;
                if (!didAuthenticate && (!IsUsingNameServer || CloudRegion != CloudRegionCode.none))
                {
                    didAuthenticate = CallAuthenticate();
                    if (didAuthenticate) State = ClientState.Authenticating;
                }
                break;
            case StatusCode.EncryptionFailedToEstablish:
                Debug.LogError("Encryption wasn't established: " + statusCode + ". Going to authenticate anyways.");
                OpAuthenticate(AppId, AppVersion, AuthValues ?? new AuthenticationValues { UserId = PlayerName }, CloudRegion.ToString());
                break;
            case StatusCode.Disconnect:
                didAuthenticate = false;
                if (Server == ServerConnection.GameServer) LeftRoomCleanup();
                if (Server == ServerConnection.MasterServer) LeftLobbyCleanup();
                if (State == ClientState.DisconnectingFromMasterserver)
                {
                    if (Connect(GameServerAddress, ServerConnection.GameServer)) State = ClientState.ConnectingToGameserver;
                }
                else if (State == ClientState.DisconnectingFromGameserver || State == ClientState.DisconnectingFromNameServer)
                {
                    if (Connect(MasterServerAddress, ServerConnection.MasterServer)) State = ClientState.ConnectingToMasterserver;
                }
                else
                {
                    if (AuthValues != null) AuthValues.Token = null;
                    IsInitialConnect = false;
                    State = ClientState.PeerCreated;
                    SendMonoMessage(PhotonNetworkingMessage.OnDisconnectedFromPhoton);
                }
                break;
            case StatusCode.ExceptionOnConnect:
            case StatusCode.SecurityExceptionOnConnect:
                IsInitialConnect = false;
                State = ClientState.PeerCreated;
                if (AuthValues != null) AuthValues.Token = null;
                SendMonoMessage(PhotonNetworkingMessage.OnFailedToConnectToPhoton, (DisconnectCause)statusCode);
                break;
            case StatusCode.Exception:
                State = ClientState.PeerCreated;
                cause = (DisconnectCause)statusCode;
                if (IsInitialConnect)
                {
                    IsInitialConnect = false;
                    SendMonoMessage(PhotonNetworkingMessage.OnFailedToConnectToPhoton, cause);
                }
                else
                {
                    SendMonoMessage(PhotonNetworkingMessage.OnConnectionFail, cause);
                }
                Disconnect();
                break;
            case StatusCode.TimeoutDisconnect:
            case StatusCode.ExceptionOnReceive:
            case StatusCode.DisconnectByServerTimeout:
            case StatusCode.DisconnectByServerLogic:
            case StatusCode.DisconnectByServerUserLimit:
                cause = (DisconnectCause)statusCode;
                if (IsInitialConnect)
                {
                    Debug.LogWarning(statusCode + " while connecting to: " + ServerAddress + ". Check if the server is available.");
                    IsInitialConnect = false;
                    SendMonoMessage(PhotonNetworkingMessage.OnFailedToConnectToPhoton, cause);
                }
                else
                {
                    SendMonoMessage(PhotonNetworkingMessage.OnConnectionFail, cause);
                }
                if (AuthValues != null) AuthValues.Token = null;
                Disconnect();
                break;
            case StatusCode.SendError:
                break;
            default:
                Debug.LogError("Received unknown status code: " + statusCode);
                break;
        }
    }

    public void OnEvent(EventData ev)
    {
        int actorNr = -1;
        PhotonPlayer originatingPlayer = null;
        if (ev.Parameters.ContainsKey(ParameterCode.ActorNr))
        {
            actorNr = (int)ev[ParameterCode.ActorNr];
            originatingPlayer = GetPlayerWithId(actorNr);
        }
        switch (ev.Code)
        {
            case EventCode.GameList:
            {
                mGameList = new Dictionary<string, RoomInfo>();
                Hashtable games = (Hashtable)ev[ParameterCode.GameList];
                foreach (object key in new List<object>(games.Keys)) mGameList[(string)key] = new RoomInfo((string)key, (Hashtable)games[key]);
                mGameListCopy = new RoomInfo[mGameList.Count];
                mGameList.Values.CopyTo(mGameListCopy, 0);
                SendMonoMessage(PhotonNetworkingMessage.OnReceivedRoomListUpdate);
                break;
            }
            case EventCode.GameListUpdate:
            {
                Hashtable games = (Hashtable)ev[ParameterCode.GameList];
                foreach (object key in new List<object>(games.Keys))
                {
                    RoomInfo room = new RoomInfo((string)key, (Hashtable)games[key]);
                    if (room.removedFromList) mGameList.Remove((string)key);
                    else mGameList[(string)key] = room;
                }
                mGameListCopy = new RoomInfo[mGameList.Count];
                mGameList.Values.CopyTo(mGameListCopy, 0);
                SendMonoMessage(PhotonNetworkingMessage.OnReceivedRoomListUpdate);
                break;
            }
            case EventCode.Join:
            {
                Hashtable props = (Hashtable)ev[ParameterCode.PlayerProperties];
                if (originatingPlayer == null)
                {
                    AddNewPlayer(actorNr, new PhotonPlayer(LocalPlayer.ID == actorNr, actorNr, props));
                    ResetPhotonViewsOnSerialize();
                }
                else
                {
                    originatingPlayer.InternalCacheProperties(props);
                    originatingPlayer.IsInactive = false;
                }
                if (actorNr == LocalPlayer.ID)
                {
                    // Our own join lists everyone in the room.
                    UpdatedActorList((int[])ev[ParameterCode.ActorList]);
                    if (lastJoinType == JoinType.JoinOrCreateRoom && LocalPlayer.ID == 1) SendMonoMessage(PhotonNetworkingMessage.OnCreatedRoom);
                    SendMonoMessage(PhotonNetworkingMessage.OnJoinedRoom);
                }
                else
                {
                    SendMonoMessage(PhotonNetworkingMessage.OnPhotonPlayerConnected, mActors[actorNr]);
                }
                break;
            }
            case EventCode.Leave:
                HandleEventLeave(actorNr, ev);
                break;
            case EventCode.PropertiesChanged:
            {
                int target = (int)ev[ParameterCode.TargetActorNr];
                Hashtable props = (Hashtable)ev[ParameterCode.Properties];
                ReadoutProperties(target == 0 ? props : null, target == 0 ? null : props, target);
                break;
            }
            case PunEvent.RPC:
                ExecuteRpc(ev[ParameterCode.Data] as Hashtable, actorNr);
                break;
            case PunEvent.SendSerialize:
            case PunEvent.SendSerializeReliable:
            {
                Hashtable data = (Hashtable)ev[ParameterCode.Data];
                int timestamp = (int)data[(byte)0];
                short levelPrefix = -1;
                int header = 1;
                if (data.ContainsKey((byte)1))
                {
                    levelPrefix = (short)data[(byte)1];
                    header = 2;
                }
                for (byte s = 10; s - 10 < data.Count - header; s++) OnSerializeRead(data[s] as object[], originatingPlayer, timestamp, levelPrefix);
                break;
            }
            case PunEvent.Instantiation:
                DoInstantiate((Hashtable)ev[ParameterCode.Data], originatingPlayer, null);
                break;
            case PunEvent.CloseConnection:
                if (originatingPlayer == null || !originatingPlayer.IsMasterClient) Debug.LogError("Error: Someone else(" + originatingPlayer + ") then the masterserver requests a disconnect!");
                else PhotonNetwork.LeaveRoom(false);
                break;
            case PunEvent.DestroyPlayer:
            {
                int target = (int)((Hashtable)ev[ParameterCode.Data])[(byte)0];
                if (target >= 0) DestroyPlayerObjects(target, true);
                else DestroyAll(true);
                break;
            }
            case PunEvent.Destroy:
            {
                int instantiationId = (int)((Hashtable)ev[ParameterCode.Data])[(byte)0];
                PhotonView view;
                if (photonViewList.TryGetValue(instantiationId, out view)) RemoveInstantiatedGO(view.gameObject, true);
                else Debug.LogError("Ev Destroy Failed. Could not find PhotonView with instantiationId " + instantiationId + ". Sent by actorNr: " + actorNr);
                break;
            }
            case PunEvent.AssignMaster:
                SetMasterClient((int)((Hashtable)ev[ParameterCode.Data])[(byte)1], false);
                break;
            default:
                if (ev.Code < 200 && !PhotonNetwork.CallEvent(ev.Code, ev[ParameterCode.Data], actorNr))
                {
                    Debug.LogWarning("Warning: Unhandled event " + ev + ". Set PhotonNetwork.OnEventCall.");
                }
                break;
        }
    }

    /// <summary>
    /// A callback by name to every GameObject with a MonoBehaviour (or the cached targets): one
    /// parameter is passed as itself, several as one object[].
    /// </summary>
    public static void SendMonoMessage(PhotonNetworkingMessage methodString, params object[] parameters)
    {
        HashSet<GameObject> targets = PhotonNetwork.SendMonoMessageTargets ?? PhotonNetwork.FindGameObjectsWithComponent(PhotonNetwork.SendMonoMessageTargetType);
        string methodName = methodString.ToString();
        object callParameter = parameters != null && parameters.Length == 1 ? parameters[0] : parameters;
        foreach (GameObject go in targets)
        {
            if (go != null) go.SendMessage(methodName, callParameter, SendMessageOptions.DontRequireReceiver);
        }
    }

    // ---- RPCs -------------------------------------------------------------------------

    /// <summary>
    /// An RPC event ({0 view id, 1 level prefix, 2 server time, 3 method name or 5 its RpcList
    /// index, 4 object[] arguments}): the view's [PunRPC] method whose parameters take the
    /// arguments (a PhotonMessageInfo last, or one array for all of them).
    /// </summary>
    protected internal void ExecuteRpc(Hashtable rpcData, int senderID)
    {
        if (rpcData == null || !rpcData.ContainsKey((byte)0))
        {
            Debug.LogError("Malformed RPC; this should never occur. Content: " + SupportClass.DictionaryToString(rpcData));
            return;
        }
        int netViewID = (int)rpcData[(byte)0];
        int otherSidePrefix = rpcData.ContainsKey((byte)1) ? (short)rpcData[(byte)1] : 0;
        string methodName;
        if (rpcData.ContainsKey((byte)5))
        {
            int index = (byte)rpcData[(byte)5];
            if (index > PhotonNetwork.PhotonServerSettings.RpcList.Count - 1)
            {
                Debug.LogError("Could not find RPC with index: " + index + ". Going to ignore! Check PhotonServerSettings.RpcList");
                return;
            }
            methodName = PhotonNetwork.PhotonServerSettings.RpcList[index];
        }
        else
        {
            methodName = (string)rpcData[(byte)3];
        }
        object[] args = rpcData.ContainsKey((byte)4) ? (object[])rpcData[(byte)4] : null;
        if (args == null) args = new object[0];

        PhotonView view = GetPhotonView(netViewID);
        if (view == null)
        {
            bool ours = netViewID / PhotonNetwork.MAX_VIEW_IDS == LocalPlayer.ID;
            Debug.LogWarning("Received RPC \"" + methodName + "\" for viewID " + netViewID + " but this PhotonView does not exist! "
                + (ours ? "View was/is ours." : "Was remote PV.") + " By: " + senderID);
            return;
        }
        if (view.prefix != otherSidePrefix)
        {
            Debug.LogError("Received RPC \"" + methodName + "\" on viewID " + netViewID + " with a prefix of " + otherSidePrefix + ", our prefix is " + view.prefix + ". The RPC has been ignored.");
            return;
        }
        if (string.IsNullOrEmpty(methodName))
        {
            Debug.LogError("Malformed RPC; this should never occur. Content: " + SupportClass.DictionaryToString(rpcData));
            return;
        }
        if (view.group != 0 && !allowedReceivingGroups.Contains(view.group)) return;

        Type[] argTypes = new Type[args.Length];
        for (int i = 0; i < args.Length; i++) argTypes[i] = args[i] == null ? null : args[i].GetType();
        int receivers = 0, found = 0;
        if (!PhotonNetwork.UseRpcMonoBehaviourCache || view.RpcMonoBehaviours == null || view.RpcMonoBehaviours.Length == 0) view.RefreshRpcMonoBehaviourCache();
        foreach (UnityEngine.MonoBehaviour mb in view.RpcMonoBehaviours)
        {
            if (mb == null)
            {
                Debug.LogError("ERROR You have missing MonoBehaviours on your gameobjects!");
                continue;
            }
            List<MethodInfo> methods;
            if (!monoRPCMethodsCache.TryGetValue(mb.GetType(), out methods))
            {
                methods = SupportClass.GetMethods(mb.GetType(), typeof(PunRPC));
                monoRPCMethodsCache[mb.GetType()] = methods;
            }
            foreach (MethodInfo m in methods)
            {
                if (m.Name != methodName) continue;
                found++;
                ParameterInfo[] ps = m.GetParameters();
                if (ps.Length == argTypes.Length)
                {
                    if (!TypesMatch(ps, argTypes)) continue;
                    receivers++;
                    m.Invoke(mb, args);
                }
                else if (ps.Length - 1 == argTypes.Length)
                {
                    if (!TypesMatch(ps, argTypes) || ps[ps.Length - 1].ParameterType != typeof(PhotonMessageInfo)) continue;
                    receivers++;
                    object[] withInfo = new object[args.Length + 1];
                    args.CopyTo(withInfo, 0);
                    withInfo[withInfo.Length - 1] = new PhotonMessageInfo(GetPlayerWithId(senderID), (int)rpcData[(byte)2], view);
                    m.Invoke(mb, withInfo);
                }
                else if (ps.Length == 1 && ps[0].ParameterType.IsArray)
                {
                    receivers++;
                    m.Invoke(mb, new object[] { args });
                }
            }
        }
        if (receivers == 1) return;
        List<string> names = new List<string>();
        foreach (Type t in argTypes) names.Add(t == null ? "null" : t.Name);
        string shown = string.Join(", ", names.ToArray());
        if (receivers == 0 && found == 0) Debug.LogError("PhotonView with ID " + netViewID + " has no method \"" + methodName + "\" marked with the [PunRPC](C#) or @PunRPC(JS) property! Args: " + shown);
        else if (receivers == 0) Debug.LogError("PhotonView with ID " + netViewID + " has no method \"" + methodName + "\" that takes " + argTypes.Length + " argument(s): " + shown);
        else Debug.LogError("PhotonView with ID " + netViewID + " has " + receivers + " methods \"" + methodName + "\" that takes " + argTypes.Length + " argument(s): " + shown + ". Should be just one?");
    }

    /// <summary>Each argument fits its parameter (an enum parameter takes its underlying type); null fits anything.</summary>
    private static bool TypesMatch(ParameterInfo[] ps, Type[] args)
    {
        if (ps.Length < args.Length) return false;
        for (int i = 0; i < args.Length; i++)
        {
            Type p = ps[i].ParameterType;
            if (args[i] != null && !p.IsAssignableFrom(args[i]) && !(p.IsEnum && Enum.GetUnderlyingType(p).IsAssignableFrom(args[i]))) return false;
        }
        return true;
    }

    /// <summary>
    /// Sends an RPC: to one player (or runs it here when that is us); else by target, the
    /// buffered ones cached in the room, the "All" ones also run here at once, MasterClient
    /// here when we are the master.
    /// </summary>
    internal void RPC(PhotonView view, string methodName, PhotonTargets target, PhotonPlayer player, bool encrypt, params object[] parameters)
    {
        if (blockSendingGroups.Contains(view.group)) return;
        if (view.viewID < 1) Debug.LogError("Illegal view ID:" + view.viewID + " method: " + methodName + " GO:" + view.gameObject.name);
        Hashtable rpc = new Hashtable();
        rpc[(byte)0] = view.viewID;
        if (view.prefix > 0) rpc[(byte)1] = (short)view.prefix;
        rpc[(byte)2] = PhotonNetwork.ServerTimestamp;
        int shortcut;
        if (rpcShortcuts.TryGetValue(methodName, out shortcut)) rpc[(byte)5] = (byte)shortcut;
        else rpc[(byte)3] = methodName;
        if (parameters != null && parameters.Length > 0) rpc[(byte)4] = parameters;

        if (player != null)
        {
            if (LocalPlayer.ID == player.ID) ExecuteRpc(rpc, player.ID);
            else OpRaiseEvent(PunEvent.RPC, rpc, true, new RaiseEventOptions { TargetActors = new[] { player.ID }, Encrypt = encrypt });
            return;
        }
        switch (target)
        {
            case PhotonTargets.All:
                OpRaiseEvent(PunEvent.RPC, rpc, true, new RaiseEventOptions { InterestGroup = view.group, Encrypt = encrypt });
                ExecuteRpc(rpc, LocalPlayer.ID);
                break;
            case PhotonTargets.Others:
                OpRaiseEvent(PunEvent.RPC, rpc, true, new RaiseEventOptions { InterestGroup = view.group, Encrypt = encrypt });
                break;
            case PhotonTargets.AllBuffered:
                OpRaiseEvent(PunEvent.RPC, rpc, true, new RaiseEventOptions { CachingOption = EventCaching.AddToRoomCache, Encrypt = encrypt });
                ExecuteRpc(rpc, LocalPlayer.ID);
                break;
            case PhotonTargets.OthersBuffered:
                OpRaiseEvent(PunEvent.RPC, rpc, true, new RaiseEventOptions { CachingOption = EventCaching.AddToRoomCache, Encrypt = encrypt });
                break;
            case PhotonTargets.MasterClient:
                if (mMasterClientId == LocalPlayer.ID) ExecuteRpc(rpc, LocalPlayer.ID);
                else OpRaiseEvent(PunEvent.RPC, rpc, true, new RaiseEventOptions { Receivers = ReceiverGroup.MasterClient, Encrypt = encrypt });
                break;
            case PhotonTargets.AllViaServer:
                OpRaiseEvent(PunEvent.RPC, rpc, true, new RaiseEventOptions { InterestGroup = view.group, Receivers = ReceiverGroup.All, Encrypt = encrypt });
                break;
            case PhotonTargets.AllBufferedViaServer:
                OpRaiseEvent(PunEvent.RPC, rpc, true, new RaiseEventOptions
                {
                    InterestGroup = view.group,
                    Receivers = ReceiverGroup.All,
                    CachingOption = EventCaching.AddToRoomCache,
                    Encrypt = encrypt,
                });
                break;
            default:
                Debug.LogError("Unsupported target enum: " + target);
                break;
        }
    }

    // ---- instantiation and destruction ---------------------------------------------

    /// <summary>
    /// The instantiation event ({0 prefab, 1 position unless zero, 2 rotation unless identity,
    /// 3 group, 4 view ids when more than one, 5 object[] data, 6 server time, 7 instantiation
    /// id = first view id, 8 level prefix}), cached in the room (globally for scene objects).
    /// </summary>
    internal Hashtable SendInstantiate(string prefabName, Vector3 position, Quaternion rotation, byte group, int[] viewIDs, object[] data, bool isGlobalObject)
    {
        Hashtable ev = new Hashtable();
        ev[(byte)0] = prefabName;
        if (position != Vector3.zero) ev[(byte)1] = position;
        if (rotation != Quaternion.identity) ev[(byte)2] = rotation;
        if (group != 0) ev[(byte)3] = group;
        if (viewIDs.Length > 1) ev[(byte)4] = viewIDs;
        if (data != null) ev[(byte)5] = data;
        if (currentLevelPrefix > 0) ev[(byte)8] = currentLevelPrefix;
        ev[(byte)6] = PhotonNetwork.ServerTimestamp;
        ev[(byte)7] = viewIDs[0];
        RaiseEventOptions options = new RaiseEventOptions { CachingOption = isGlobalObject ? EventCaching.AddToRoomCacheGlobal : EventCaching.AddToRoomCache };
        OpRaiseEvent(PunEvent.Instantiation, ev, true, options);
        return ev;
    }

    /// <summary>
    /// Makes the object an instantiation event describes: the prefab's views get the ids before
    /// Unity copies it (so the copy's views register in Awake), then OnPhotonInstantiate on it.
    /// </summary>
    internal GameObject DoInstantiate(Hashtable ev, PhotonPlayer photonPlayer, GameObject resourceGameObject)
    {
        string prefabName = (string)ev[(byte)0];
        int serverTime = (int)ev[(byte)6];
        int instantiationId = (int)ev[(byte)7];
        Vector3 position = ev.ContainsKey((byte)1) ? (Vector3)ev[(byte)1] : Vector3.zero;
        Quaternion rotation = ev.ContainsKey((byte)2) ? (Quaternion)ev[(byte)2] : Quaternion.identity;
        byte group = ev.ContainsKey((byte)3) ? (byte)ev[(byte)3] : (byte)0;
        short levelPrefix = ev.ContainsKey((byte)8) ? (short)ev[(byte)8] : (short)0;
        int[] viewIDs = ev.ContainsKey((byte)4) ? (int[])ev[(byte)4] : new[] { instantiationId };
        object[] data = ev.ContainsKey((byte)5) ? (object[])ev[(byte)5] : null;
        if (group != 0 && !allowedReceivingGroups.Contains(group)) return null;

        if (resourceGameObject == null)
        {
            if (!UsePrefabCache || !PrefabCache.TryGetValue(prefabName, out resourceGameObject))
            {
                resourceGameObject = (GameObject)Resources.Load(prefabName, typeof(GameObject));
                if (UsePrefabCache) PrefabCache.Add(prefabName, resourceGameObject);
            }
            if (resourceGameObject == null)
            {
                Debug.LogError("PhotonNetwork error: Could not Instantiate the prefab [" + prefabName + "]. Please verify you have this gameobject in a Resources folder.");
                return null;
            }
        }
        PhotonView[] prefabViews = resourceGameObject.GetPhotonViewsInChildren();
        if (prefabViews.Length != viewIDs.Length) throw new Exception("Error in Instantiation! The resource's PhotonView count is not the same as in incoming data.");
        for (int i = 0; i < viewIDs.Length; i++)
        {
            prefabViews[i].viewID = viewIDs[i];
            prefabViews[i].prefix = levelPrefix;
            prefabViews[i].instantiationId = instantiationId;
            prefabViews[i].isRuntimeInstantiated = true;
        }
        tempInstantiationData[instantiationId] = data;
        GameObject go = (GameObject)UnityEngine.Object.Instantiate(resourceGameObject, position, rotation);
        for (int i = 0; i < viewIDs.Length; i++)
        {
            prefabViews[i].viewID = 0;
            prefabViews[i].prefix = -1;
            prefabViews[i].prefixBackup = -1;
            prefabViews[i].instantiationId = -1;
            prefabViews[i].isRuntimeInstantiated = false;
        }
        tempInstantiationData.Remove(instantiationId);
        go.SendMessage(PhotonNetworkingMessage.OnPhotonInstantiate.ToString(), new PhotonMessageInfo(photonPlayer, serverTime, null), SendMessageOptions.DontRequireReceiver);
        return go;
    }

    public object[] FetchInstantiationData(int instantiationId)
    {
        object[] data = null;
        if (instantiationId == 0) return null;
        tempInstantiationData.TryGetValue(instantiationId, out data);
        return data;
    }

    /// <summary>A player's objects here (and, unless localOnly, their cached instantiations and RPCs and everyone's copies).</summary>
    public void DestroyPlayerObjects(int playerId, bool localOnly)
    {
        if (playerId <= 0)
        {
            Debug.LogError("Failed to Destroy objects of playerId: " + playerId);
            return;
        }
        if (!localOnly)
        {
            OpRaiseEvent(PunEvent.Instantiation, null, true, new RaiseEventOptions { CachingOption = EventCaching.RemoveFromRoomCache, TargetActors = new[] { playerId } });
            OpCleanRpcBuffer(playerId);
            OpRaiseEvent(PunEvent.DestroyPlayer, new Hashtable { { (byte)0, playerId } }, true, null);
        }
        HashSet<GameObject> gos = new HashSet<GameObject>();
        foreach (PhotonView v in photonViewList.Values)
        {
            if (v != null && v.CreatorActorNr == playerId) gos.Add(v.gameObject);
        }
        foreach (GameObject go in gos) RemoveInstantiatedGO(go, true);
        foreach (PhotonView v in photonViewList.Values)
        {
            if (v.ownerId == playerId) v.ownerId = v.CreatorActorNr;
        }
    }

    public void DestroyAll(bool localOnly)
    {
        if (!localOnly)
        {
            OpRaiseEvent(0, null, true, new RaiseEventOptions { CachingOption = EventCaching.RemoveFromRoomCache, Receivers = ReceiverGroup.MasterClient });
            OpRaiseEvent(PunEvent.DestroyPlayer, new Hashtable { { (byte)0, -1 } }, true, null);
        }
        LocalCleanupAnythingInstantiated(true);
    }

    /// <summary>
    /// Removes an instantiated object and its views; unless localOnly (only the owner, or the
    /// master for a leaver's) its cached instantiation goes (by key 7), everyone else is told
    /// (event 204) and its views' cached RPCs go (by key 0).
    /// </summary>
    protected internal void RemoveInstantiatedGO(GameObject go, bool localOnly)
    {
        if (go == null)
        {
            Debug.LogError("Failed to 'network-remove' GameObject because it's null.");
            return;
        }
        PhotonView[] views = go.GetComponentsInChildren<PhotonView>(true);
        if (views == null || views.Length <= 0)
        {
            Debug.LogError("Failed to 'network-remove' GameObject because has no PhotonView components: " + go);
            return;
        }
        PhotonView first = views[0];
        int creatorId = first.CreatorActorNr;
        int instantiationId = first.instantiationId;
        if (!localOnly)
        {
            if (!first.isMine)
            {
                Debug.LogError("Failed to 'network-remove' GameObject. Client is neither owner nor masterClient taking over for owner who left: " + first);
                return;
            }
            if (instantiationId < 1)
            {
                Debug.LogError("Failed to 'network-remove' GameObject because it is missing a valid InstantiationId on view: " + first + ". Not Destroying GameObject or PhotonViews!");
                return;
            }
            OpRaiseEvent(PunEvent.Instantiation, new Hashtable { { (byte)7, instantiationId } }, true,
                new RaiseEventOptions { CachingOption = EventCaching.RemoveFromRoomCache, TargetActors = new[] { creatorId } });
            RaiseEventOptions destroyOptions = null;
            if (!first.isRuntimeInstantiated) destroyOptions = new RaiseEventOptions { CachingOption = EventCaching.AddToRoomCacheGlobal };
            OpRaiseEvent(PunEvent.Destroy, new Hashtable { { (byte)0, instantiationId } }, true, destroyOptions);
        }
        for (int j = views.Length - 1; j >= 0; j--)
        {
            PhotonView v = views[j];
            if (v == null) continue;
            if (v.instantiationId >= 1) LocalCleanPhotonView(v);
            if (!localOnly) OpCleanRpcBuffer(v);
        }
        UnityEngine.Object.Destroy(go);
    }

    public bool LocalCleanPhotonView(PhotonView view)
    {
        view.removedFromLocalViewList = true;
        return photonViewList.Remove(view.viewID);
    }

    public PhotonView GetPhotonView(int viewID)
    {
        PhotonView v;
        if (photonViewList.TryGetValue(viewID, out v) && v != null) return v;
        foreach (PhotonView scene in (PhotonView[])UnityEngine.Object.FindObjectsOfType(typeof(PhotonView)))
        {
            if (scene.viewID == viewID)
            {
                if (scene.didAwake) Debug.LogWarning("Had to lookup view that wasn't in photonViewList: " + scene);
                return scene;
            }
        }
        return null;
    }

    public void RegisterPhotonView(PhotonView view)
    {
        if (view.viewID == 0) return;
        PhotonView listed;
        if (photonViewList.TryGetValue(view.viewID, out listed))
        {
            if (view == listed) return;
            Debug.LogError(string.Format("PhotonView ID duplicate found: {0}. New: {1} old: {2}. Maybe one wasn't destroyed on scene load?! Check for 'DontDestroyOnLoad'. Destroying old entry, adding new.", view.viewID, view, listed));
            RemoveInstantiatedGO(listed.gameObject, true);
        }
        photonViewList.Add(view.viewID, view);
    }

    /// <summary>A player's cached RPCs (the master for others).</summary>
    public void OpCleanRpcBuffer(int actorNumber)
    {
        OpRaiseEvent(PunEvent.RPC, null, true, new RaiseEventOptions { CachingOption = EventCaching.RemoveFromRoomCache, TargetActors = new[] { actorNumber } });
    }

    /// <summary>A view's cached RPCs.</summary>
    public void OpCleanRpcBuffer(PhotonView view)
    {
        OpRaiseEvent(PunEvent.RPC, new Hashtable { { (byte)0, view.viewID } }, true, new RaiseEventOptions { CachingOption = EventCaching.RemoveFromRoomCache });
    }

    public void CleanRpcBufferIfMine(PhotonView view)
    {
        if (view.ownerId != LocalPlayer.ID && !LocalPlayer.IsMasterClient)
        {
            Debug.LogError("Cannot remove cached RPCs on a PhotonView thats not ours! " + view.owner + " scene: " + view.isSceneView);
            return;
        }
        OpCleanRpcBuffer(view);
    }

    // ---- interest groups ------------------------------------------------------------------

    /// <summary>What this client receives: an empty array is every group; applied here and sent as ChangeGroups.</summary>
    public void SetInterestGroups(byte[] disableGroups, byte[] enableGroups)
    {
        if (disableGroups != null)
        {
            if (disableGroups.Length == 0) allowedReceivingGroups.Clear();
            foreach (byte g in disableGroups)
            {
                if (g <= 0) Debug.LogError("Error: PhotonNetwork.SetInterestGroups was called with an illegal group number: " + g + ". The group number should be at least 1.");
                else allowedReceivingGroups.Remove(g);
            }
        }
        if (enableGroups != null)
        {
            if (enableGroups.Length == 0)
            {
                for (int g = 0; g <= byte.MaxValue; g++) allowedReceivingGroups.Add((byte)g);
            }
            foreach (byte g in enableGroups)
            {
                if (g <= 0) Debug.LogError("Error: PhotonNetwork.SetInterestGroups was called with an illegal group number: " + g + ". The group number should be at least 1.");
                else allowedReceivingGroups.Add(g);
            }
        }
        OpChangeGroups(disableGroups, enableGroups);
    }

    public void SetSendingEnabled(byte group, bool enabled)
    {
        if (!enabled) blockSendingGroups.Add(group);
        else blockSendingGroups.Remove(group);
    }

    // ---- view serialization -----------------------------------------------------------------

    /// <summary>
    /// Every view of ours that is synchronized writes its values; they go per interest group in
    /// events of at most ObjectsInOneUpdate views ({0 server time, 1 level prefix, 10.. one
    /// object[] per view}): 201 unreliable, 206 reliable (delta compressed, and the last of an
    /// unchanged UnreliableOnChange). Nothing is sent while we are alone.
    /// </summary>
    public void RunViewUpdate()
    {
        if (!PhotonNetwork.connected || mActors == null || mActors.Count <= 1) return;
        int pending = 0;
        serializeOptions.Reset();
        foreach (PhotonView view in new List<PhotonView>(photonViewList.Values))
        {
            if (view == null) continue;
            if (view.synchronization == ViewSynchronization.Off || !view.isMine || !view.gameObject.activeInHierarchy) continue;
            if (blockSendingGroups.Contains(view.group)) continue;
            object[] values = OnSerializeWrite(view);
            if (values == null) continue;
            bool reliable = view.synchronization == ViewSynchronization.ReliableDeltaCompressed || view.mixedModeIsReliable;
            Dictionary<int, Hashtable> perGroup = reliable ? dataPerGroupReliable : dataPerGroupUnreliable;
            Hashtable batch;
            if (!perGroup.TryGetValue(view.group, out batch))
            {
                batch = new Hashtable(ObjectsInOneUpdate);
                perGroup[view.group] = batch;
            }
            batch.Add((byte)(batch.Count + 10), values);
            pending++;
            if (batch.Count >= ObjectsInOneUpdate)
            {
                pending -= batch.Count;
                SendSerializeBatch(view.group, batch, reliable);
            }
        }
        if (pending == 0) return;
        foreach (KeyValuePair<int, Hashtable> kv in dataPerGroupReliable)
        {
            if (kv.Value.Count > 0) SendSerializeBatch(kv.Key, kv.Value, true);
        }
        foreach (KeyValuePair<int, Hashtable> kv in dataPerGroupUnreliable)
        {
            if (kv.Value.Count > 0) SendSerializeBatch(kv.Key, kv.Value, false);
        }
    }

    private void SendSerializeBatch(int group, Hashtable batch, bool reliable)
    {
        serializeOptions.InterestGroup = (byte)group;
        batch[(byte)0] = PhotonNetwork.ServerTimestamp;
        if (currentLevelPrefix >= 0) batch[(byte)1] = currentLevelPrefix;
        OpRaiseEvent(reliable ? PunEvent.SendSerializeReliable : PunEvent.SendSerialize, batch, reliable, serializeOptions);
        batch.Clear();
    }

    /// <summary>A view's values for this round, or null when there is nothing to send.</summary>
    private object[] OnSerializeWrite(PhotonView view)
    {
        if (view.synchronization == ViewSynchronization.Off) return null;
        PhotonMessageInfo info = new PhotonMessageInfo(LocalPlayer, PhotonNetwork.ServerTimestamp, view);
        pStream.ResetWriteStream();
        pStream.SendNext(null);
        pStream.SendNext(null);
        pStream.SendNext(null);
        view.SerializeView(pStream, info);
        if (pStream.Count <= SyncFirstValue) return null;
        object[] current = pStream.ToArray();
        current[SyncViewId] = view.viewID;
        current[SyncCompressed] = false;
        current[SyncNullValues] = null;
        switch (view.synchronization)
        {
            case ViewSynchronization.Unreliable:
                return current;
            case ViewSynchronization.UnreliableOnChange:
                if (AlmostEquals(current, view.lastOnSerializeDataSent))
                {
                    // Unchanged: one last reliable copy, then silence until it changes.
                    if (view.mixedModeIsReliable) return null;
                    view.mixedModeIsReliable = true;
                }
                else
                {
                    view.mixedModeIsReliable = false;
                }
                view.lastOnSerializeDataSent = current;
                return current;
            case ViewSynchronization.ReliableDeltaCompressed:
                object[] compressed = DeltaCompressionWrite(view.lastOnSerializeDataSent, current);
                view.lastOnSerializeDataSent = current;
                return compressed;
        }
        return null;
    }

    /// <summary>A view update from <paramref name="sender"/>: the view's observed components read it.</summary>
    private void OnSerializeRead(object[] data, PhotonPlayer sender, int networkTime, short correctPrefix)
    {
        int viewID = (int)data[SyncViewId];
        PhotonView view = GetPhotonView(viewID);
        if (view == null)
        {
            Debug.LogWarning("Received OnSerialization for view ID " + viewID + ". We have no such PhotonView! Ignored this if you're leaving a room. State: " + State);
            return;
        }
        if (view.prefix > 0 && correctPrefix != view.prefix)
        {
            Debug.LogError("Received OnSerialization for view ID " + viewID + " with prefix " + correctPrefix + ". Our prefix is " + view.prefix);
            return;
        }
        if (view.group != 0 && !allowedReceivingGroups.Contains(view.group)) return;
        if (view.synchronization == ViewSynchronization.ReliableDeltaCompressed)
        {
            object[] full = DeltaCompressionRead(view.lastOnSerializeDataReceived, data);
            if (full == null) return;
            view.lastOnSerializeDataReceived = full;
            data = full;
        }
        // A late joiner learns the owner from who sends the updates.
        if (sender.ID != view.ownerId && (!view.OwnerShipWasTransfered || view.ownerId == 0) && view.currentMasterID == -1) view.ownerId = sender.ID;
        readStream.SetReadStream(data, 3);
        view.DeserializeView(readStream, new PhotonMessageInfo(sender, networkTime, view));
    }

    /// <summary>Values equal to the last sent become null (index 1 true, index 2 the ones that really are null now); null when nothing changed.</summary>
    private object[] DeltaCompressionWrite(object[] previous, object[] current)
    {
        if (current == null || previous == null || previous.Length != current.Length) return current;
        if (current.Length <= SyncFirstValue) return null;
        object[] compressed = (object[])current.Clone();
        compressed[SyncCompressed] = false;
        int same = 0;
        List<int> nowNull = null;
        for (int i = SyncFirstValue; i < current.Length; i++)
        {
            if (AlmostEquals(current[i], previous[i]))
            {
                same++;
                compressed[i] = null;
            }
            else if (current[i] == null)
            {
                if (nowNull == null) nowNull = new List<int>();
                nowNull.Add(i);
            }
        }
        if (same > 0)
        {
            if (same == current.Length - SyncFirstValue) return null;
            compressed[SyncCompressed] = true;
            if (nowNull != null) compressed[SyncNullValues] = nowNull.ToArray();
        }
        return compressed;
    }

    /// <summary>Fills the nulls of a compressed update from the last full one; null before any full one came.</summary>
    private object[] DeltaCompressionRead(object[] lastReceived, object[] incoming)
    {
        if (!(bool)incoming[SyncCompressed]) return incoming;
        if (lastReceived == null) return null;
        int[] nowNull = incoming[SyncNullValues] as int[];
        for (int i = SyncFirstValue; i < incoming.Length; i++)
        {
            if (nowNull != null && nowNull.Contains(i)) continue;
            if (incoming[i] == null) incoming[i] = lastReceived[i];
        }
        return incoming;
    }

    private bool AlmostEquals(object[] last, object[] current)
    {
        if (last == null && current == null) return true;
        if (last == null || current == null || last.Length != current.Length) return false;
        for (int i = 0; i < current.Length; i++)
        {
            if (!AlmostEquals(current[i], last[i])) return false;
        }
        return true;
    }

    private static bool AlmostEquals(object one, object two)
    {
        if (one == null || two == null) return one == null && two == null;
        if (one.Equals(two)) return true;
        if (one is Vector3 && two is Vector3) return ((Vector3)one).AlmostEquals((Vector3)two, PhotonNetwork.precisionForVectorSynchronization);
        if (one is Quaternion && two is Quaternion) return ((Quaternion)one).AlmostEquals((Quaternion)two, PhotonNetwork.precisionForQuaternionSynchronization);
        if (one is float && two is float) return ((float)one).AlmostEquals((float)two, PhotonNetwork.precisionForFloatSynchronization);
        return false;
    }

    /// <summary>The level prefix later views and their RPCs and updates carry (existing views keep theirs).</summary>
    public void SetLevelPrefix(short prefix)
    {
        currentLevelPrefix = prefix;
    }

    public void SetApp(string appId, string gameVersion)
    {
        AppId = appId.Trim();
        if (!string.IsNullOrEmpty(gameVersion)) PhotonNetwork.gameVersion = gameVersion.Trim();
    }

    /// <summary>Not PUN: the token the last Authenticate answer carried, for the test.</summary>
    internal string Token
    {
        get { return tokenCache; }
    }
}

/// <summary>PUN's MonoBehaviour on the hidden "PhotonMono" object: dispatches and sends from Update.</summary>
internal class PhotonHandler : UnityEngine.MonoBehaviour
{
    public static PhotonHandler SP;
    private static bool sendThreadShouldRun;
    public int updateInterval;
    public int updateIntervalOnSerialize;
    private int nextSendTickCount;
    private int nextSendTickCountOnSerialize;

    protected void Awake()
    {
        if (SP != null && SP != this && SP.gameObject != null) UnityEngine.Object.DestroyImmediate(SP.gameObject);
        SP = this;
        DontDestroyOnLoad(gameObject);
        updateInterval = 1000 / PhotonNetwork.sendRate;
        updateIntervalOnSerialize = 1000 / PhotonNetwork.sendRateOnSerialize;
        StartFallbackSendAckThread();
    }

    protected void OnDestroy()
    {
        sendThreadShouldRun = false;
    }

    /// <summary>Everything waiting is dispatched; view updates every updateIntervalOnSerialize ms, outgoing commands every updateInterval ms.</summary>
    protected void Update()
    {
        if (PhotonNetwork.networkingPeer == null)
        {
            Debug.LogError("NetworkPeer broke!");
            return;
        }
        ClientState s = PhotonNetwork.connectionStateDetailed;
        if (s == ClientState.PeerCreated || s == ClientState.Disconnected || !PhotonNetwork.isMessageQueueRunning) return;
        bool more = true;
        while (PhotonNetwork.isMessageQueueRunning && more) more = PhotonNetwork.networkingPeer.DispatchIncomingCommands();
        int now = (int)(Time.realtimeSinceStartup * 1000);
        if (PhotonNetwork.isMessageQueueRunning && now > nextSendTickCountOnSerialize)
        {
            PhotonNetwork.networkingPeer.RunViewUpdate();
            nextSendTickCountOnSerialize = now + updateIntervalOnSerialize;
            nextSendTickCount = 0;
        }
        now = (int)(Time.realtimeSinceStartup * 1000);
        if (now > nextSendTickCount)
        {
            bool sending = true;
            while (PhotonNetwork.isMessageQueueRunning && sending) sending = PhotonNetwork.networkingPeer.SendOutgoingCommands();
            nextSendTickCount = now + updateInterval;
        }
    }

    public static void StartFallbackSendAckThread()
    {
        if (sendThreadShouldRun) return;
        sendThreadShouldRun = true;
        SupportClass.StartBackgroundCalls(FallbackSendAckThread, 100, "");
    }

    /// <summary>While the game does not send (loading, a paused queue), acknowledgements still go out.</summary>
    public static bool FallbackSendAckThread()
    {
        NetworkingPeer peer = PhotonNetwork.networkingPeer;
        if (sendThreadShouldRun && peer != null && (!PhotonNetwork.isMessageQueueRunning || peer.ConnectionTime - peer.LastSendOutgoingTime > 200)) peer.SendAcksOnly();
        return sendThreadShouldRun;
    }
}

/// <summary>PUN's API.</summary>
public static class PhotonNetwork
{
    public const string versionPUN = "1.93";
    public static readonly int MAX_VIEW_IDS = 1000;
    internal const string serverSettingsAssetFile = "PhotonServerSettings";
    public static ServerSettings PhotonServerSettings = (ServerSettings)Resources.Load(serverSettingsAssetFile, typeof(ServerSettings));
    internal static readonly PhotonHandler photonMono;
    internal static NetworkingPeer networkingPeer;
    public static bool InstantiateInRoomOnly = true;
    public static PhotonLogLevel logLevel = PhotonLogLevel.ErrorsOnly;
    public static bool UseRpcMonoBehaviourCache;
    public static bool UsePrefabCache = true;
    public static Dictionary<string, GameObject> PrefabCache = new Dictionary<string, GameObject>();
    public static HashSet<GameObject> SendMonoMessageTargets;
    public static Type SendMonoMessageTargetType = typeof(UnityEngine.MonoBehaviour);
    public static float precisionForVectorSynchronization = 0.000099f;
    public static float precisionForQuaternionSynchronization = 1.0f;
    public static float precisionForFloatSynchronization = 0.01f;
    internal static int lastUsedViewSubId;
    internal static int lastUsedViewSubIdStatic;
    internal static List<int> manuallyAllocatedViewIds = new List<int>();
    private static bool autoCleanUp = true;
    private static int sendInterval = 50;
    private static int sendIntervalOnSerialize = 100;
    private static bool messageQueueRunning = true;
    private static readonly Stopwatch startupStopwatch;
    private static readonly List<string> trace = new List<string>();

    public delegate void EventCallback(byte eventCode, object content, int senderId);

    public static event EventCallback OnEventCall;

    /// <summary>Makes the hidden PhotonMono object and the peer (its protocol from the settings), and registers the custom types.</summary>
    static PhotonNetwork()
    {
        if (PhotonServerSettings != null) Application.runInBackground = PhotonServerSettings.RunInBackground;
        GameObject go = new GameObject();
        photonMono = go.AddComponent<PhotonHandler>();
        go.name = "PhotonMono";
        go.hideFlags = HideFlags.HideInHierarchy;
        networkingPeer = new NetworkingPeer(string.Empty, PhotonServerSettings.Protocol);
        networkingPeer.QuickResendAttempts = 2;
        networkingPeer.SentCountAllowance = 7;
        startupStopwatch = Stopwatch.StartNew();
        networkingPeer.LocalMsTimestampDelegate = () => (int)startupStopwatch.ElapsedMilliseconds;
        CustomTypes.Register();
    }

    public static string gameVersion { get; set; }

    /// <summary>Not PUN: every server the peer connected to and every state it went through, in order, for the test.</summary>
    public static List<string> Trace
    {
        get
        {
            lock (trace) return new List<string>(trace);
        }
    }

    internal static void Note(string what)
    {
        lock (trace) trace.Add(what);
    }

    /// <summary>Not PUN: the token the last Authenticate answer carried, for the test.</summary>
    public static string AuthToken
    {
        get { return networkingPeer.Token; }
    }

    public static bool connected
    {
        get
        {
            if (networkingPeer == null) return false;
            ClientState s = networkingPeer.State;
            return !networkingPeer.IsInitialConnect && s != ClientState.PeerCreated && s != ClientState.Disconnected && s != ClientState.Disconnecting && s != ClientState.ConnectingToNameServer;
        }
    }

    public static bool connecting
    {
        get { return networkingPeer.IsInitialConnect; }
    }

    public static bool connectedAndReady
    {
        get
        {
            if (!connected) return false;
            switch (connectionStateDetailed)
            {
                case ClientState.PeerCreated:
                case ClientState.Disconnected:
                case ClientState.Disconnecting:
                case ClientState.Authenticating:
                case ClientState.ConnectingToGameserver:
                case ClientState.ConnectingToMasterserver:
                case ClientState.ConnectingToNameServer:
                case ClientState.Joining:
                    return false;
            }
            return true;
        }
    }

    public static ConnectionState connectionState
    {
        get
        {
            if (networkingPeer == null) return ConnectionState.Disconnected;
            switch (networkingPeer.PeerState)
            {
                case PeerStateValue.Connecting: return ConnectionState.Connecting;
                case PeerStateValue.Connected: return ConnectionState.Connected;
                case PeerStateValue.Disconnecting: return ConnectionState.Disconnecting;
                case PeerStateValue.InitializingApplication: return ConnectionState.InitializingApplication;
            }
            return ConnectionState.Disconnected;
        }
    }

    public static ClientState connectionStateDetailed
    {
        get { return networkingPeer == null ? ClientState.Disconnected : networkingPeer.State; }
    }

    public static ServerConnection Server
    {
        get { return networkingPeer != null ? networkingPeer.Server : ServerConnection.NameServer; }
    }

    public static AuthenticationValues AuthValues
    {
        get { return networkingPeer != null ? networkingPeer.AuthValues : null; }
        set { if (networkingPeer != null) networkingPeer.AuthValues = value; }
    }

    public static Room room { get { return networkingPeer.CurrentRoom; } }
    public static PhotonPlayer player { get { return networkingPeer == null ? null : networkingPeer.LocalPlayer; } }
    public static PhotonPlayer masterClient { get { return networkingPeer == null ? null : networkingPeer.GetPlayerWithId(networkingPeer.mMasterClientId); } }

    public static string playerName
    {
        get { return networkingPeer.PlayerName; }
        set { networkingPeer.PlayerName = value; }
    }

    public static PhotonPlayer[] playerList { get { return networkingPeer == null ? new PhotonPlayer[0] : networkingPeer.mPlayerListCopy; } }
    public static PhotonPlayer[] otherPlayers { get { return networkingPeer == null ? new PhotonPlayer[0] : networkingPeer.mOtherPlayerListCopy; } }

    public static bool autoCleanUpPlayerObjects
    {
        get { return autoCleanUp; }
        set
        {
            if (room != null) Debug.LogError("Setting autoCleanUpPlayerObjects while in a room is not supported.");
            else autoCleanUp = value;
        }
    }

    public static bool autoJoinLobby
    {
        get { return PhotonServerSettings.JoinLobby; }
        set { PhotonServerSettings.JoinLobby = value; }
    }

    public static bool insideLobby { get { return networkingPeer.insideLobby; } }

    public static TypedLobby lobby
    {
        get { return networkingPeer.lobby; }
        set { networkingPeer.lobby = value; }
    }

    /// <summary>How often per second outgoing commands are sent; lowering it below the serialization rate lowers that too.</summary>
    public static int sendRate
    {
        get { return 1000 / sendInterval; }
        set
        {
            sendInterval = 1000 / value;
            if (photonMono != null) photonMono.updateInterval = sendInterval;
            if (value < sendRateOnSerialize) sendRateOnSerialize = value;
        }
    }

    /// <summary>How often per second views serialize; at most sendRate.</summary>
    public static int sendRateOnSerialize
    {
        get { return 1000 / sendIntervalOnSerialize; }
        set
        {
            if (value > sendRate)
            {
                Debug.LogError("Error: Can not set the OnSerialize rate higher than the overall SendRate.");
                value = sendRate;
            }
            sendIntervalOnSerialize = 1000 / value;
            if (photonMono != null) photonMono.updateIntervalOnSerialize = sendIntervalOnSerialize;
        }
    }

    public static bool isMessageQueueRunning
    {
        get { return messageQueueRunning; }
        set
        {
            if (value) PhotonHandler.StartFallbackSendAckThread();
            networkingPeer.IsSendingOnlyAcks = !value;
            messageQueueRunning = value;
        }
    }

    /// <summary>The server's time in seconds (the server timestamp as unsigned milliseconds).</summary>
    public static double time
    {
        get { return (uint)ServerTimestamp / 1000.0; }
    }

    public static int ServerTimestamp
    {
        get { return networkingPeer.ServerTimeInMilliSeconds; }
    }

    public static bool isMasterClient { get { return networkingPeer.mMasterClientId == player.ID; } }
    public static bool inRoom { get { return connectionStateDetailed == ClientState.Joined; } }
    public static bool isNonMasterClientInRoom { get { return !isMasterClient && room != null; } }

    // ---- connecting ---------------------------------------------------------------

    /// <summary>As the PhotonServerSettings say: a fixed cloud region through the name server, or a master of our own.</summary>
    public static bool ConnectUsingSettings(string gameVersion)
    {
        if (networkingPeer.PeerState != PeerStateValue.Disconnected)
        {
            Debug.LogWarning("ConnectUsingSettings() failed. Can only connect while in state 'Disconnected'. Current state: " + networkingPeer.PeerState);
            return false;
        }
        if (PhotonServerSettings == null)
        {
            Debug.LogError("Can't connect: Loading settings failed. ServerSettings asset must be in any 'Resources' folder as: " + serverSettingsAssetFile);
            return false;
        }
        if (PhotonServerSettings.HostType == ServerSettings.HostingOption.NotSet)
        {
            Debug.LogError("You did not select a Hosting Type in your PhotonServerSettings. Please set it up or don't use ConnectUsingSettings().");
            return false;
        }
        if (PhotonServerSettings.HostType == ServerSettings.HostingOption.OfflineMode || PhotonServerSettings.HostType == ServerSettings.HostingOption.BestRegion)
        {
            throw new NotSupportedException("the PUN Classic stand-in leaves out " + PhotonServerSettings.HostType);
        }
        if (logLevel == PhotonLogLevel.ErrorsOnly) logLevel = PhotonServerSettings.PunLogging;
        if (networkingPeer.DebugOut == DebugLevel.ERROR) networkingPeer.DebugOut = PhotonServerSettings.NetworkLogging;
        networkingPeer.TransportProtocol = PhotonServerSettings.Protocol;
        networkingPeer.SetApp(PhotonServerSettings.AppID, gameVersion);
        isMessageQueueRunning = true;
        networkingPeer.IsInitialConnect = true;
        if (PhotonServerSettings.HostType == ServerSettings.HostingOption.SelfHosted)
        {
            networkingPeer.IsUsingNameServer = false;
            networkingPeer.MasterServerAddress = PhotonServerSettings.ServerPort == 0 ? PhotonServerSettings.ServerAddress : PhotonServerSettings.ServerAddress + ":" + PhotonServerSettings.ServerPort;
            return networkingPeer.Connect(networkingPeer.MasterServerAddress, ServerConnection.MasterServer);
        }
        return networkingPeer.ConnectToRegionMaster(PhotonServerSettings.PreferredRegion);
    }

    public static bool ConnectToMaster(string masterServerAddress, int port, string appID, string gameVersion)
    {
        if (networkingPeer.PeerState != PeerStateValue.Disconnected)
        {
            Debug.LogWarning("ConnectToMaster() failed. Can only connect while in state 'Disconnected'. Current state: " + networkingPeer.PeerState);
            return false;
        }
        if (!isMessageQueueRunning) isMessageQueueRunning = true;
        networkingPeer.SetApp(appID, gameVersion);
        networkingPeer.IsUsingNameServer = false;
        networkingPeer.IsInitialConnect = true;
        networkingPeer.MasterServerAddress = port == 0 ? masterServerAddress : masterServerAddress + ":" + port;
        return networkingPeer.Connect(networkingPeer.MasterServerAddress, ServerConnection.MasterServer);
    }

    public static bool ConnectToRegion(CloudRegionCode region, string gameVersion)
    {
        if (networkingPeer.PeerState != PeerStateValue.Disconnected)
        {
            Debug.LogWarning("ConnectToRegion() failed. Can only connect while in state 'Disconnected'. Current state: " + networkingPeer.PeerState);
            return false;
        }
        networkingPeer.IsInitialConnect = true;
        networkingPeer.SetApp(PhotonServerSettings.AppID, gameVersion);
        return region != CloudRegionCode.none && networkingPeer.ConnectToRegionMaster(region);
    }

    public static void Disconnect()
    {
        if (networkingPeer != null) networkingPeer.Disconnect();
    }

    private static bool VerifyCanUseNetwork()
    {
        if (connected) return true;
        Debug.LogError("Cannot send messages when not connected. Either connect to Photon OR use offline mode!");
        return false;
    }

    // ---- rooms -----------------------------------------------------------------------

    private static bool OnMasterAndReady(string what)
    {
        if (networkingPeer.Server == ServerConnection.MasterServer && connectedAndReady) return true;
        Debug.LogError(what + " failed. Client is not on Master Server or not yet ready to call operations. Wait for callback: OnJoinedLobby or OnConnectedToMaster.");
        return false;
    }

    public static bool CreateRoom(string roomName)
    {
        return CreateRoom(roomName, null, null);
    }

    public static bool CreateRoom(string roomName, RoomOptions roomOptions, TypedLobby typedLobby)
    {
        if (!OnMasterAndReady("CreateRoom")) return false;
        typedLobby = typedLobby ?? (networkingPeer.insideLobby ? networkingPeer.lobby : null);
        return networkingPeer.OpCreateGame(new EnterRoomParams { RoomName = roomName, RoomOptions = roomOptions, Lobby = typedLobby });
    }

    public static bool JoinRoom(string roomName)
    {
        if (!OnMasterAndReady("JoinRoom")) return false;
        if (string.IsNullOrEmpty(roomName))
        {
            Debug.LogError("JoinRoom failed. A roomname is required. If you don't know one, how will you join?");
            return false;
        }
        return networkingPeer.OpJoinRoom(new EnterRoomParams { RoomName = roomName });
    }

    public static bool JoinOrCreateRoom(string roomName, RoomOptions roomOptions, TypedLobby typedLobby)
    {
        if (!OnMasterAndReady("JoinOrCreateRoom")) return false;
        if (string.IsNullOrEmpty(roomName))
        {
            Debug.LogError("JoinOrCreateRoom failed. A roomname is required. If you don't know one, how will you join?");
            return false;
        }
        typedLobby = typedLobby ?? (networkingPeer.insideLobby ? networkingPeer.lobby : null);
        return networkingPeer.OpJoinRoom(new EnterRoomParams
        {
            RoomName = roomName,
            RoomOptions = roomOptions,
            Lobby = typedLobby,
            CreateIfNotExists = true,
            PlayerProperties = player.CustomProperties,
        });
    }

    public static bool JoinRandomRoom()
    {
        return JoinRandomRoom(null, 0, MatchmakingMode.FillRoom, null, null);
    }

    public static bool JoinRandomRoom(Hashtable expectedCustomRoomProperties, byte expectedMaxPlayers)
    {
        return JoinRandomRoom(expectedCustomRoomProperties, expectedMaxPlayers, MatchmakingMode.FillRoom, null, null);
    }

    public static bool JoinRandomRoom(Hashtable expectedCustomRoomProperties, byte expectedMaxPlayers, MatchmakingMode matchingType, TypedLobby typedLobby, string sqlLobbyFilter)
    {
        if (!OnMasterAndReady("JoinRandomRoom")) return false;
        typedLobby = typedLobby ?? (networkingPeer.insideLobby ? networkingPeer.lobby : null);
        return networkingPeer.OpJoinRandomRoom(new OpJoinRandomRoomParams
        {
            ExpectedCustomRoomProperties = expectedCustomRoomProperties,
            ExpectedMaxPlayers = expectedMaxPlayers,
            MatchingType = matchingType,
            TypedLobby = typedLobby,
            SqlLobbyFilter = sqlLobbyFilter,
        });
    }

    public static bool JoinLobby()
    {
        return JoinLobby(null);
    }

    public static bool JoinLobby(TypedLobby typedLobby)
    {
        if (!connected || Server != ServerConnection.MasterServer) return false;
        if (typedLobby == null) typedLobby = TypedLobby.Default;
        bool sending = networkingPeer.OpJoinLobby(typedLobby);
        if (sending) networkingPeer.lobby = typedLobby;
        return sending;
    }

    public static bool LeaveLobby()
    {
        return connected && Server == ServerConnection.MasterServer && networkingPeer.OpLeaveLobby();
    }

    /// <summary>Leave (inactive only in a room with a player TTL); the game server's answer takes us back to the master.</summary>
    public static bool LeaveRoom(bool becomeInactive = true)
    {
        if (room == null) Debug.LogWarning("PhotonNetwork.room is null. You don't have to call LeaveRoom() when you're not in one. State: " + connectionStateDetailed);
        else becomeInactive = becomeInactive && room.PlayerTtl != 0;
        return networkingPeer.OpLeaveRoom(becomeInactive);
    }

    public static RoomInfo[] GetRoomList()
    {
        return networkingPeer == null ? new RoomInfo[0] : networkingPeer.mGameListCopy;
    }

    public static void SetPlayerCustomProperties(Hashtable customProperties)
    {
        if (customProperties == null)
        {
            customProperties = new Hashtable();
            foreach (object k in player.CustomProperties.Keys) customProperties[(string)k] = null;
        }
        if (room != null && room.IsLocalClientInside) player.SetCustomProperties(customProperties);
        else player.InternalCacheProperties(customProperties);
    }

    public static bool RaiseEvent(byte eventCode, object eventContent, bool sendReliable, RaiseEventOptions options)
    {
        if (!inRoom || eventCode >= 200)
        {
            Debug.LogWarning("RaiseEvent() failed. Your event is not being sent! Check if your are in a Room and the eventCode must be less than 200 (0..199).");
            return false;
        }
        return networkingPeer.OpRaiseEvent(eventCode, eventContent, sendReliable, options);
    }

    public static bool RaiseEvent(byte eventCode, object eventContent, RaiseEventOptions raiseEventOptions, SendOptions sendOptions)
    {
        if (!inRoom || eventCode >= 200)
        {
            Debug.LogWarning("RaiseEvent() failed. Your event is not being sent! Check if your are in a Room and the eventCode must be less than 200 (0..199).");
            return false;
        }
        return networkingPeer.OpRaiseEvent(eventCode, eventContent, raiseEventOptions, sendOptions);
    }

    internal static bool CallEvent(byte eventCode, object content, int senderId)
    {
        if (OnEventCall == null) return false;
        OnEventCall(eventCode, content, senderId);
        return true;
    }

    public static bool SetMasterClient(PhotonPlayer masterClientPlayer)
    {
        if (!inRoom || !VerifyCanUseNetwork()) return false;
        if (room.serverSideMasterClient) return networkingPeer.SetMasterClient(masterClientPlayer.ID);
        return isMasterClient && networkingPeer.SetMasterClient(masterClientPlayer.ID, true);
    }

    /// <summary>The master asks a player to leave (event 203 to that player).</summary>
    public static bool CloseConnection(PhotonPlayer kickPlayer)
    {
        if (!VerifyCanUseNetwork()) return false;
        if (!player.IsMasterClient)
        {
            Debug.LogError("CloseConnection: Only the masterclient can kick another player.");
            return false;
        }
        if (kickPlayer == null)
        {
            Debug.LogError("CloseConnection: No such player connected!");
            return false;
        }
        return networkingPeer.OpRaiseEvent(PunEvent.CloseConnection, null, true, new RaiseEventOptions { TargetActors = new[] { kickPlayer.ID } });
    }

    // ---- views ---------------------------------------------------------------------------

    public static int AllocateViewID()
    {
        int id = AllocateViewID(player.ID);
        manuallyAllocatedViewIds.Add(id);
        return id;
    }

    /// <summary>The next free view id of an owner (0: the room's scene objects), skipping sub id 0.</summary>
    private static int AllocateViewID(int ownerId)
    {
        int last = ownerId == 0 ? lastUsedViewSubIdStatic : lastUsedViewSubId;
        for (int i = 1; i < MAX_VIEW_IDS; i++)
        {
            int sub = (last + i) % MAX_VIEW_IDS;
            if (sub == 0) continue;
            int id = sub + ownerId * MAX_VIEW_IDS;
            if (networkingPeer.photonViewList.ContainsKey(id) || (ownerId != 0 && manuallyAllocatedViewIds.Contains(id))) continue;
            if (ownerId == 0) lastUsedViewSubIdStatic = sub;
            else lastUsedViewSubId = sub;
            return id;
        }
        throw new Exception(string.Format("AllocateViewID() failed. User {0} is out of viewIDs, as all are used.", ownerId));
    }

    public static GameObject Instantiate(string prefabName, Vector3 position, Quaternion rotation, byte group)
    {
        return Instantiate(prefabName, position, rotation, group, null);
    }

    /// <summary>A prefab from Resources with its views numbered for us; sent (cached) to everyone and made here at once.</summary>
    public static GameObject Instantiate(string prefabName, Vector3 position, Quaternion rotation, byte group, object[] data)
    {
        if (!connected || (InstantiateInRoomOnly && !inRoom))
        {
            Debug.LogError("Failed to Instantiate prefab: " + prefabName + ". Client should be in a room. Current connectionStateDetailed: " + connectionStateDetailed);
            return null;
        }
        GameObject prefab = LoadPrefab(prefabName, "Instantiate");
        if (prefab == null) return null;
        PhotonView[] views = prefab.GetPhotonViewsInChildren();
        int[] ids = new int[views.Length];
        for (int i = 0; i < ids.Length; i++) ids[i] = AllocateViewID(player.ID);
        Hashtable ev = networkingPeer.SendInstantiate(prefabName, position, rotation, group, ids, data, false);
        return networkingPeer.DoInstantiate(ev, networkingPeer.LocalPlayer, prefab);
    }

    /// <summary>The master's object of the room (view ids 1..999), cached globally: it stays when the master leaves.</summary>
    public static GameObject InstantiateSceneObject(string prefabName, Vector3 position, Quaternion rotation, byte group, object[] data)
    {
        if (!connected || (InstantiateInRoomOnly && !inRoom))
        {
            Debug.LogError("Failed to InstantiateSceneObject prefab: " + prefabName + ". Client should be in a room. Current connectionStateDetailed: " + connectionStateDetailed);
            return null;
        }
        if (!isMasterClient)
        {
            Debug.LogError("Failed to InstantiateSceneObject prefab: " + prefabName + ". Client is not the MasterClient in this room.");
            return null;
        }
        GameObject prefab = LoadPrefab(prefabName, "InstantiateSceneObject");
        if (prefab == null) return null;
        PhotonView[] views = prefab.GetPhotonViewsInChildren();
        int[] ids = new int[views.Length];
        for (int i = 0; i < ids.Length; i++) ids[i] = AllocateViewID(0);
        Hashtable ev = networkingPeer.SendInstantiate(prefabName, position, rotation, group, ids, data, true);
        return networkingPeer.DoInstantiate(ev, networkingPeer.LocalPlayer, prefab);
    }

    private static GameObject LoadPrefab(string prefabName, string what)
    {
        GameObject prefab;
        if (!UsePrefabCache || !PrefabCache.TryGetValue(prefabName, out prefab))
        {
            prefab = (GameObject)Resources.Load(prefabName, typeof(GameObject));
            if (UsePrefabCache) PrefabCache.Add(prefabName, prefab);
        }
        if (prefab == null)
        {
            Debug.LogError("Failed to " + what + " prefab: " + prefabName + ". Verify the Prefab is in a Resources folder (and not in a subfolder)");
            return null;
        }
        if (prefab.GetComponent<PhotonView>() == null)
        {
            Debug.LogError("Failed to " + what + " prefab:" + prefabName + ". Prefab must have a PhotonView component.");
            return null;
        }
        return prefab;
    }

    public static int GetPing()
    {
        return networkingPeer.RoundTripTime;
    }

    public static void Destroy(PhotonView targetView)
    {
        if (targetView != null) networkingPeer.RemoveInstantiatedGO(targetView.gameObject, !inRoom);
        else Debug.LogError("Destroy(targetPhotonView) failed, cause targetPhotonView is null.");
    }

    public static void Destroy(GameObject targetGo)
    {
        networkingPeer.RemoveInstantiatedGO(targetGo, !inRoom);
    }

    public static void DestroyPlayerObjects(PhotonPlayer targetPlayer)
    {
        DestroyPlayerObjects(targetPlayer.ID);
    }

    /// <summary>Our own objects, or (the master) anyone's: here, in the room's cache and everywhere else.</summary>
    public static void DestroyPlayerObjects(int targetPlayerId)
    {
        if (!VerifyCanUseNetwork()) return;
        if (player.IsMasterClient || targetPlayerId == player.ID) networkingPeer.DestroyPlayerObjects(targetPlayerId, false);
        else Debug.LogError("DestroyPlayerObjects() failed, cause players can only destroy their own GameObjects. A Master Client can destroy anyone's. This is master: " + isMasterClient);
    }

    public static void DestroyAll()
    {
        if (isMasterClient) networkingPeer.DestroyAll(false);
        else Debug.LogError("Couldn't call DestroyAll() as only the master client is allowed to call this.");
    }

    public static void RemoveRPCs(PhotonPlayer targetPlayer)
    {
        if (!VerifyCanUseNetwork()) return;
        if (!targetPlayer.IsLocal && !isMasterClient)
        {
            Debug.LogError("Error; Only the MasterClient can call RemoveRPCs for other players.");
            return;
        }
        networkingPeer.OpCleanRpcBuffer(targetPlayer.ID);
    }

    public static void RemoveRPCs(PhotonView targetPhotonView)
    {
        if (VerifyCanUseNetwork()) networkingPeer.CleanRpcBufferIfMine(targetPhotonView);
    }

    internal static void RPC(PhotonView view, string methodName, PhotonTargets target, bool encrypt, params object[] parameters)
    {
        if (!VerifyCanUseNetwork()) return;
        if (room == null)
        {
            Debug.LogWarning("RPCs can only be sent in rooms. Call of \"" + methodName + "\" gets executed locally only, if at all.");
            return;
        }
        if (!room.serverSideMasterClient && networkingPeer.hasSwitchedMC && target == PhotonTargets.MasterClient)
        {
            networkingPeer.RPC(view, methodName, PhotonTargets.Others, masterClient, encrypt, parameters);
            return;
        }
        networkingPeer.RPC(view, methodName, target, null, encrypt, parameters);
    }

    internal static void RPC(PhotonView view, string methodName, PhotonPlayer targetPlayer, bool encrypt, params object[] parameters)
    {
        if (!VerifyCanUseNetwork()) return;
        if (room == null)
        {
            Debug.LogWarning("RPCs can only be sent in rooms. Call of \"" + methodName + "\" gets executed locally only, if at all.");
            return;
        }
        if (targetPlayer == null) Debug.LogError("RPC can't be sent to target PhotonPlayer being null! Did not send \"" + methodName + "\" call.");
        networkingPeer.RPC(view, methodName, PhotonTargets.Others, targetPlayer, encrypt, parameters);
    }

    public static HashSet<GameObject> FindGameObjectsWithComponent(Type type)
    {
        HashSet<GameObject> found = new HashSet<GameObject>();
        foreach (Component c in (Component[])UnityEngine.Object.FindObjectsOfType(type))
        {
            if (c != null) found.Add(c.gameObject);
        }
        return found;
    }

    public static void SetInterestGroups(byte[] disableGroups, byte[] enableGroups)
    {
        if (VerifyCanUseNetwork()) networkingPeer.SetInterestGroups(disableGroups, enableGroups);
    }

    public static void SetInterestGroups(byte group, bool enabled)
    {
        if (!VerifyCanUseNetwork()) return;
        byte[] groups = { group };
        if (enabled) networkingPeer.SetInterestGroups(null, groups);
        else networkingPeer.SetInterestGroups(groups, null);
    }

    public static void SetSendingEnabled(byte group, bool enabled)
    {
        if (VerifyCanUseNetwork()) networkingPeer.SetSendingEnabled(group, enabled);
    }

    public static void SetLevelPrefix(short prefix)
    {
        if (VerifyCanUseNetwork()) networkingPeer.SetLevelPrefix(prefix);
    }
}
