// Who the local racer is in a room: Player.NameOverride, else the game's
// profile-name (player-state.json), else the identity's name (Steam, or the
// offline name), else the OS user; the game's player-id, else the
// identity's. Read when a room opens, never per frame.
using System;
using System.Collections.Generic;
using System.IO;
using BepInEx.Logging;
using UnityEngine;

namespace Propwash.Shim
{
    internal struct LocalPlayer
    {
        public string Name;
        public string Id;

        public static LocalPlayer Load(ShimSettings settings, IdentityWatch identity, ManualLogSource log)
        {
            string gameName, gameId;
            ReadGameProfile(log, out gameName, out gameId);
            PlayerIdentity id = identity == null ? null : identity.Current;
            return new LocalPlayer
            {
                Name = First(settings.PlayerName.Value, gameName, id == null ? null : id.Name, Environment.UserName),
                Id = First(gameId, id == null ? null : id.PlayerId, ""),
            };
        }

        /// <summary>profile-name and player-id from the game's player-state.json; null when absent or unreadable.</summary>
        public static void ReadGameProfile(ManualLogSource log, out string name, out string id)
        {
            name = id = null;
            string path = Path.Combine(Application.streamingAssetsPath, "game/storage/offline/state/player/player-state.json");
            try
            {
                if (!File.Exists(path)) return;
                Dictionary<string, object> state = Json.Parse(File.ReadAllText(path)) as Dictionary<string, object>;
                name = LobbyText.Str(state, "profile-name");
                id = LobbyText.Str(state, "player-id");
            }
            catch (Exception e)
            {
                log.LogWarning("could not read " + path + ": " + e.Message);
            }
        }

        public static string First(params string[] candidates)
        {
            foreach (string c in candidates)
            {
                if (!string.IsNullOrEmpty(c)) return c;
            }
            return "";
        }
    }
}
