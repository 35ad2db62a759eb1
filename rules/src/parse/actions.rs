//! The action list of a rule line: tc's `action A [CONTROL] [action] B ...` (tc/m_action.c
//! `parse_action`: after one action, the next word starts another, with or without the word
//! `action`), each action and control word as iproute2 reads it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{dec_else_hex, did_you_mean, is_action_word, mac, LineParser, ACTIONS, EXPECTED_ACTION};
use crate::lex::{end_col, number, number_in, Token};
use crate::rule::{
    Action, Control, Gate, GateClock, GateEntry, MplsAction, Munge, Pedit, PeditCmd, PeditField, Police, PoliceRate,
    TunnelKey, TunnelSet, VlanAction, CSUM_WORDS, ETHERTYPE_MPLS, MPLS_LABEL_IMPLICIT_NULL, VLAN_TPIDS,
};
use crate::tc_words::{self, Base};

/// tc's control words (`action_a2n` in tc/tc_util.c), in its order: a word is read as the
/// first it abbreviates (`p` is `pass`).
const CONTROL_WORDS: [&str; 10] =
    ["continue", "drop", "shot", "pass", "ok", "reclassify", "pipe", "goto", "jump", "trap"];

/// tc actions this dataplane does not carry out, and why.
fn unsupported_action(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "skbedit" => "skbedit sets socket-buffer fields (priority, mark, queue) that frames here do not have",
        "ct" | "ctinfo" | "connmark" | "nat" => "it needs connection tracking, which this dataplane does not do",
        "sample" | "ife" | "simple" | "xt" | "ipt" | "bpf" | "skbmod" => {
            "this action has no counterpart in this dataplane"
        }
        _ => return None,
    })
}

impl<'a> LineParser<'a> {
    /// The actions after the first word `action`, to the end of the line.
    pub(super) fn actions(&mut self, action_word: Token<'a>) {
        self.action_col = action_word.col;
        let mut list = Vec::new();
        // Where each of tc's actions starts in `list` (a control word after an action is an
        // entry of its own here, not in tc's count).
        let mut starts = Vec::new();
        // The last `action` word, while no action has followed it.
        let mut announced = Some(action_word);
        while let Some(word) = self.next() {
            if is_action_word(word.text) {
                announced = Some(word);
                continue;
            }
            starts.push(list.len());
            if !self.one_action(word, announced.is_some(), &mut list) || !self.action_attributes() {
                return;
            }
            announced = None;
        }
        if let Some(word) = announced {
            self.error(word.col, format!("missing action after '{}' (expected {EXPECTED_ACTION})", word.text));
            return;
        }
        let jumps = self.resolve_jumps(&mut list, &starts);
        if let Some(end) = list.iter().position(Action::ends_list).filter(|_| !jumps) {
            if end + 1 < list.len() {
                let note = format!(
                    "the actions after `{}` never run (tc ends a list at its first drop, pass, redirect, continue or goto)",
                    list[end]
                );
                self.notes.push((self.action_col, note));
            }
        }
        self.actions = Some(list);
    }

    /// One action starting at `word` onto `list` (with the control word after it); false
    /// after an error. `announced`: the word `action` came right before.
    fn one_action(&mut self, word: Token<'a>, announced: bool, list: &mut Vec<Action>) -> bool {
        if let Some(control) = control_word(word.text) {
            return match self.control(word, control) {
                Some(control) => {
                    list.extend(control.as_action());
                    true
                }
                None => false,
            };
        }
        match word.text {
            "gact" => {
                let Some(t) = self.next() else {
                    self.error(
                        end_col(self.content),
                        "gact needs a control action: drop, pass/ok, continue, pipe or goto chain N",
                    );
                    return false;
                };
                match control_word(t.text).and_then(|control| self.control(t, control)) {
                    Some(control) => list.extend(control.as_action()),
                    None => {
                        if control_word(t.text).is_none() {
                            self.error(t.col, format!("gact {} is not a control action (expected drop, pass/ok, continue, pipe or goto chain N)", t.text));
                        }
                        return false;
                    }
                }
            }
            "reflect" => list.push(Action::Reflect),
            "decap" => list.push(Action::Decap),
            "ttl-dec" => list.push(Action::TtlDec),
            "fwd" => {
                let Some(port) = self.next() else {
                    self.error(word.col, "missing port for fwd (expected the dataplane port number, 0-based)");
                    return false;
                };
                match number("fwd port", port.text, 0xffff) {
                    Ok(port) => list.push(Action::Fwd(port as u16)),
                    Err(message) => {
                        self.error(port.col, message.to_string());
                        return false;
                    }
                }
            }
            "encap" => {
                // The spec runs to the next `action` word or the end of the line.
                let start = word.offset + word.text.len();
                let end_at = self.tokens[self.pos..].iter().position(|t| is_action_word(t.text));
                let end = end_at.map_or(self.content.len(), |i| self.tokens[self.pos + i].offset);
                let spec = self.content[start..end].trim();
                self.pos = end_at.map_or(self.tokens.len(), |i| self.pos + i);
                if spec.is_empty() {
                    self.error(word.col, "missing tunnel spec for encap (expected e.g. vxlan,src=IP,dst=IP,vni=N)");
                    return false;
                }
                list.push(Action::Encap(spec.to_string()));
                return true;
            }
            "mirred" => match self.mirred() {
                Some(action @ (Action::Redirect(_) | Action::Blockcast { redirect: true, .. })) => {
                    list.push(action);
                    // A redirect ends the list whatever its control word says (tc: stolen).
                    if self.peek().is_some_and(|t| control_word(t.text).is_some()) {
                        self.pos += 1;
                        if self.peek().is_some_and(|t| t.text == "chain") {
                            self.pos = (self.pos + 2).min(self.tokens.len());
                        }
                    }
                    return true;
                }
                Some(action) => list.push(action),
                None => return false,
            },
            "vlan" => match self.vlan(word) {
                Some(vlan) => list.push(Action::Vlan(vlan)),
                None => return false,
            },
            "mpls" => match self.mpls(word) {
                Some(mpls) => list.push(Action::Mpls(mpls)),
                None => return false,
            },
            "tunnel_key" => match self.tunnel_key(word) {
                Some(tunnel) => list.push(Action::TunnelKey(tunnel)),
                None => return false,
            },
            "pedit" | "csum" => {
                let action = if word.text == "pedit" { self.pedit(word).map(Action::Pedit) } else { self.csum(word) };
                let Some(action) = action else { return false };
                list.push(action);
                // m_pedit.c and m_csum.c: `pass` (TC_ACT_OK) unless a control word follows.
                if self.peek().is_none_or(|t| control_word(t.text).is_none()) {
                    list.push(Action::Pass);
                    return true;
                }
            }
            "gate" => match self.gate(word) {
                Some(gate) => {
                    list.push(Action::Gate(gate));
                    return true;
                }
                None => return false,
            },
            "police" => match self.police(word) {
                Some(police) => {
                    list.push(Action::Police(police));
                    return true;
                }
                None => return false,
            },
            other => {
                if let Some(reason) = unsupported_action(other) {
                    self.error(word.col, format!("action '{other}' is not supported here: {reason}"));
                } else if announced {
                    let hint = did_you_mean(other, ACTIONS.iter().copied().chain(["police", "goto", "continue"]));
                    self.error(word.col, format!("unknown action '{other}'{hint} (expected {EXPECTED_ACTION})"));
                } else {
                    self.error(word.col, format!("unexpected '{other}' after the action (keys go before the actions)"));
                }
                return false;
            }
        }
        // What the action's control word says next (tc: `pipe` unless told).
        if let Some(t) = self.peek() {
            if let Some(control) = control_word(t.text) {
                self.pos += 1;
                match self.control(t, control) {
                    Some(control) => list.extend(control.as_action()),
                    None => return false,
                }
            }
        }
        true
    }

    /// Makes every `jump N` (tc's count of actions to skip from the list's start) the list
    /// position of action N (`starts[N]`), or past the end (tc passes the frame there);
    /// whether the list has any jump.
    fn resolve_jumps(&mut self, list: &mut [Action], starts: &[usize]) -> bool {
        let end = u32::try_from(list.len()).unwrap_or(u32::MAX);
        let position = |count: u32| starts.get(count as usize).map_or(end, |&at| u32::try_from(at).unwrap_or(u32::MAX));
        let mut any = false;
        let mut fix = |control: &mut Control| {
            if let Control::Jump(count) = control {
                *control = Control::Jump(if *count == 0 { 0 } else { position(*count) });
                any = true;
            }
        };
        for action in list.iter_mut() {
            match action {
                Action::Jump(count) => {
                    let mut control = Control::Jump(*count);
                    fix(&mut control);
                    if let Control::Jump(to) = control {
                        *action = Action::Jump(to);
                    }
                }
                Action::Police(police) => {
                    fix(&mut police.exceed);
                    fix(&mut police.conform);
                }
                _ => {}
            }
        }
        any
    }

    /// What m_action.c reads after every action's own words, in its order: `cookie HEX` (an
    /// opaque tag of up to 16 bytes that tc hands back in dumps), `hw_stats immediate|delayed|
    /// disabled` (which hardware counters to keep), `no_percpu` (how the kernel keeps the
    /// action's counters) and the action's own `skip_hw` (`skip_sw`, hardware only, is
    /// refused as on a rule). None changes what the
    /// action does to a frame, and this dataplane keeps its own counters, so they are read,
    /// checked as tc checks them and not kept. False after an error.
    fn action_attributes(&mut self) -> bool {
        if self.peek().is_some_and(|t| t.text == "cookie") {
            self.pos += 1;
            let Some(value) = self.next() else {
                self.error(end_col(self.content), "cookie needs a value (hex, an even number of digits, at most 32)");
                return false;
            };
            let hex = value.text.len() % 2 == 0 && value.text.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex || value.text.len() > 32 {
                let why = if hex { "at most 16 bytes (32 digits)" } else { "a hex string of an even number of digits" };
                self.error(value.col, format!("cookie {} is not {why}, as tc requires", value.text));
                return false;
            }
        }
        if self.peek().is_some_and(|t| tc_words::matches(t.text, "hw_stats")) {
            self.pos += 1;
            const KINDS: [&str; 3] = ["immediate", "delayed", "disabled"];
            let kind = self.next();
            if !kind.is_some_and(|t| KINDS.iter().any(|k| tc_words::matches(t.text, k))) {
                let col = kind.map_or(end_col(self.content), |t| t.col);
                self.error(col, "hw_stats expects immediate, delayed or disabled");
                return false;
            }
        }
        if self.peek().is_some_and(|t| t.text == "no_percpu") {
            self.pos += 1;
        }
        for _ in 0..2 {
            match self.peek() {
                Some(t) if t.text == "skip_hw" => self.pos += 1,
                Some(t) if t.text == "skip_sw" => {
                    let message = "skip_sw puts the action in hardware only, and this dataplane programs no NIC (skip_hw is accepted)";
                    self.error(t.col, message);
                    return false;
                }
                _ => {}
            }
        }
        true
    }

    /// The control word `word` (already read, tc's `control`), with `chain N` after `goto`;
    /// `None` after an error.
    fn control(&mut self, word: Token<'a>, control: &'static str) -> Option<Control> {
        Some(match control {
            "continue" => Control::Continue,
            "drop" | "shot" => Control::Drop,
            "pass" | "ok" => Control::Pass,
            "pipe" => Control::Pipe,
            "goto" => {
                match self.next() {
                    Some(t) if t.text == "chain" => {}
                    other => {
                        let col = other.map_or(end_col(self.content), |t| t.col);
                        self.error(col, "goto needs `chain N`");
                        return None;
                    }
                }
                let Some(value) = self.next() else {
                    self.error(end_col(self.content), "goto chain needs the chain's number");
                    return None;
                };
                let mut notes = Vec::new();
                match number_in("goto chain", value.text, u64::from(u32::MAX), Base::Auto, &mut notes) {
                    Ok(chain) => Control::Goto(chain as u32),
                    Err(message) => {
                        self.error(value.col, message.to_string());
                        return None;
                    }
                }
            }
            "reclassify" => {
                self.error(word.col, "reclassify (matching again from the start) is not supported: write goto chain N");
                return None;
            }
            // tc_util.c: `get_u32(.., 10)`, at most TC_ACT_EXT_VAL_MASK; the count of tc
            // actions, made a list position when the list is complete (`resolve_jumps`).
            "jump" => {
                let Some(value) = self.next() else {
                    self.error(end_col(self.content), "jump needs the count of actions to skip");
                    return None;
                };
                let mut notes = Vec::new();
                match number_in("jump", value.text, 0x0fff_ffff, Base::Dec, &mut notes) {
                    Ok(count) => Control::Jump(count as u32),
                    Err(message) => {
                        self.error(value.col, message.to_string());
                        return None;
                    }
                }
            }
            _ => {
                self.error(word.col, "trap (to the CPU of a switch) has no counterpart here: there is no hardware");
                return None;
            }
        })
    }

    /// `mirred egress redirect|mirror dev NAME` (tc/m_mirred.c, its words abbreviated as tc
    /// allows).
    fn mirred(&mut self) -> Option<Action> {
        let expected = "expected `mirred egress redirect|mirror dev NAME`";
        let next = |p: &mut Self, what: &str| {
            let t = p.next();
            if t.is_none() {
                p.error(end_col(p.content), format!("mirred: missing {what} ({expected})"));
            }
            t
        };
        let direction = next(self, "egress")?;
        if tc_words::matches(direction.text, "ingress") {
            self.error(
                direction.col,
                "mirred ingress (back into a device's receive path) has no counterpart here: frames leave by egress",
            );
            return None;
        }
        if !tc_words::matches(direction.text, "egress") {
            self.error(
                direction.col,
                format!("mirred expects egress or ingress, found '{}' ({expected})", direction.text),
            );
            return None;
        }
        let how = next(self, "redirect or mirror")?;
        let mirror = tc_words::matches(how.text, "mirror");
        if !mirror && !tc_words::matches(how.text, "redirect") {
            self.error(how.col, format!("mirred expects redirect or mirror, found '{}' ({expected})", how.text));
            return None;
        }
        let dev = next(self, "dev")?;
        if dev.text == "blockid" {
            // m_mirred.c: `get_u32(.., 0)`, and not 0.
            let Some(value) = self.next() else {
                self.error(dev.col, "mirred blockid needs the block's number (1..=4294967295)");
                return None;
            };
            let mut notes = Vec::new();
            return match number_in("mirred blockid", value.text, u64::from(u32::MAX), Base::Auto, &mut notes) {
                Ok(0) => {
                    self.error(value.col, "mirred blockid 0 is no block (blocks are numbered from 1)");
                    None
                }
                Ok(block) => Some(Action::Blockcast { block: block as u32, redirect: !mirror }),
                Err(message) => {
                    self.error(value.col, message.to_string());
                    None
                }
            };
        }
        if dev.text != "dev" {
            self.error(dev.col, format!("mirred expects dev NAME, found '{}' ({expected})", dev.text));
            return None;
        }
        let Some(name) = self.next() else {
            self.error(dev.col, format!("mirred: missing the device name after dev ({expected})"));
            return None;
        };
        let name = name.text.to_string();
        Some(if mirror { Action::Mirror(name) } else { Action::Redirect(name) })
    }

    /// `vlan pop|push|modify` and its options, read as tc/m_vlan.c does (words abbreviated,
    /// tested in its order: `p` is pop, `pr` protocol), with act_vlan.c's limits.
    fn vlan(&mut self, word: Token<'a>) -> Option<VlanAction> {
        const MODES: [&str; 5] = ["pop", "push", "modify", "pop_eth", "push_eth"];
        const OPTIONS: [&str; 5] = ["id", "protocol", "priority", "dst_mac", "src_mac"];
        let (mut mode, mut id, mut tpid, mut prio) = (None::<Token<'a>>, None::<u16>, None::<u16>, None::<u8>);
        while let Some(t) = self.peek() {
            let text = t.text;
            if let Some(&m) = MODES.iter().find(|m| tc_words::matches(text, m)) {
                if let Some(first) = mode {
                    self.error(t.col, format!("vlan: unexpected '{text}': the action is already `{}`", first.text));
                    return None;
                }
                if m.ends_with("_eth") {
                    self.error(t.col, format!("vlan {m}: removing or adding the Ethernet header itself is not supported (frames here always have one)"));
                    return None;
                }
                self.pos += 1;
                mode = Some(Token { text: m, ..t });
                continue;
            }
            let Some(&option) = OPTIONS.iter().find(|o| tc_words::matches(text, o)) else { break };
            if mode.is_none_or(|m| m.text == "pop") {
                self.error(t.col, format!("vlan {option} is only valid for push or modify (after the word)"));
                return None;
            }
            if option.ends_with("_mac") {
                self.error(t.col, format!("vlan {option} is only valid for push_eth"));
                return None;
            }
            self.pos += 1;
            let Some(value) = self.next() else {
                self.error(t.col, format!("vlan {option} needs a value"));
                return None;
            };
            if option == "protocol" {
                match tc_words::ethertype(value.text).map(|(id, _)| id) {
                    Some(id) if VLAN_TPIDS.contains(&id) => tpid = Some(id),
                    _ => {
                        self.error(
                            value.col,
                            format!(
                                "vlan protocol expects 802.1q or 802.1ad (as act_vlan accepts), found '{}'",
                                value.text
                            ),
                        );
                        return None;
                    }
                }
                continue;
            }
            // get_u16(.., 0) / get_u8(.., 0): 0x hex, 0 octal, else decimal.
            let (what, max) = if option == "id" { ("vlan id", 4094) } else { ("vlan priority", 7) };
            let mut notes = Vec::new();
            match number_in(what, value.text, max, Base::Auto, &mut notes) {
                Ok(n) if option == "id" => id = Some(n as u16),
                Ok(n) => prio = Some(n as u8),
                Err(message) => {
                    self.error(value.col, message.to_string());
                    return None;
                }
            }
            self.notes.extend(notes.into_iter().map(|note| (value.col, note)));
        }
        let Some(mode) = mode else {
            self.error(word.col, "vlan needs pop, push or modify (tc/m_vlan.c)");
            return None;
        };
        let tpid = tpid.unwrap_or(VLAN_TPIDS[0]);
        match (mode.text, id) {
            ("pop", _) => Some(VlanAction::Pop),
            (_, None) => {
                self.error(mode.col, format!("vlan {}: id needs to be set (as tc/m_vlan.c requires)", mode.text));
                None
            }
            ("push", Some(vid)) => Some(VlanAction::Push { tpid, vid, prio: prio.unwrap_or(0) }),
            (_, Some(vid)) => Some(VlanAction::Modify { tpid, vid, prio }),
        }
    }

    /// `mpls pop|push|modify|dec_ttl` and its options, read as tc/m_mpls.c does: words
    /// abbreviated and tested in its order (`p` is pop, `t` tc, `pr` protocol), numbers by
    /// `get_u32`/`get_u8(.., 0)` (0x hex, 0 octal, else decimal), options only after the
    /// action word that takes them; with act_mpls.c's limits (label 3 and `pop protocol`
    /// below 0x0600 refused).
    fn mpls(&mut self, word: Token<'a>) -> Option<MplsAction> {
        const WORDS: [&str; 11] =
            ["pop", "push", "modify", "mac_push", "dec_ttl", "label", "tc", "ttl", "bos", "protocol", "help"];
        if self.peek().is_some_and(|t| t.text == "index") {
            let col = self.peek().map_or(word.col, |t| t.col);
            self.error(col, "mpls index: an action shared by index is not supported (write the action out)");
            return None;
        }
        let mut mode = None::<Token<'a>>;
        let (mut label, mut tc, mut ttl, mut bos, mut proto) = (None, None, None, None, None::<u16>);
        while let Some(t) = self.peek() {
            let Some(&w) = WORDS.iter().find(|w| tc_words::matches(t.text, w)) else { break };
            if w == "help" {
                break;
            }
            self.pos += 1;
            if matches!(w, "pop" | "push" | "modify" | "mac_push" | "dec_ttl") {
                if let Some(first) = mode {
                    self.error(t.col, format!("mpls: unexpected '{}': the action is already `{}`", t.text, first.text));
                    return None;
                }
                if w == "mac_push" {
                    self.error(t.col, "mpls mac_push: a label stack in front of the Ethernet header is not supported (it needs vlan pop_eth first, and frames here always have one)");
                    return None;
                }
                mode = Some(Token { text: w, ..t });
                continue;
            }
            let m = mode.map_or("", |m| m.text);
            let valid = if w == "protocol" { matches!(m, "push" | "pop") } else { matches!(m, "push" | "modify") };
            if !valid {
                let which = if w == "protocol" { "push and pop" } else { "push and modify" };
                self.error(t.col, format!("mpls {w} is only valid for {which} (after the word)"));
                return None;
            }
            let Some(value) = self.next() else {
                self.error(t.col, format!("mpls {w} needs a value"));
                return None;
            };
            if w == "protocol" {
                let Some((id, _)) = tc_words::ethertype(value.text) else {
                    self.error(
                        value.col,
                        format!(
                            "mpls protocol expects an ethertype name or number (as tc reads it), found '{}'",
                            value.text
                        ),
                    );
                    return None;
                };
                if m == "push" && !ETHERTYPE_MPLS.contains(&id) {
                    self.error(
                        value.col,
                        format!(
                            "mpls push protocol expects mpls_uc or mpls_mc (as tc/m_mpls.c requires), found '{}'",
                            value.text
                        ),
                    );
                    return None;
                }
                // act_mpls: `eth_proto_is_802_3`, an ethertype rather than an 802.3 length.
                if id < 0x0600 {
                    self.error(
                        value.col,
                        format!("mpls pop protocol {} is not an ethertype (act_mpls wants 0x0600 or more)", value.text),
                    );
                    return None;
                }
                proto = Some(id);
                continue;
            }
            let (max, what) = match w {
                "label" => (0xf_ffff, "mpls label"),
                "tc" => (7, "mpls tc"),
                "ttl" => (255, "mpls ttl"),
                _ => (1, "mpls bos"),
            };
            let mut notes = Vec::new();
            let n = match number_in(what, value.text, max, Base::Auto, &mut notes) {
                Ok(n) => n,
                Err(message) => {
                    self.error(value.col, message.to_string());
                    return None;
                }
            };
            if w == "ttl" && n == 0 {
                self.error(value.col, "mpls ttl must be >0 and <=255 (as tc/m_mpls.c requires), found '0'");
                return None;
            }
            if w == "label" && n == u64::from(MPLS_LABEL_IMPLICIT_NULL) {
                self.error(
                    value.col,
                    format!(
                        "mpls label {}: 3 is the implicit null label, never sent (RFC 3032 §2.1); act_mpls refuses it",
                        value.text
                    ),
                );
                return None;
            }
            self.notes.extend(notes.into_iter().map(|note| (value.col, note)));
            match w {
                "label" => label = Some(n as u32),
                "tc" => tc = Some(n as u8),
                "ttl" => ttl = Some(n as u8),
                _ => bos = Some(n as u8),
            }
        }
        let Some(mode) = mode else {
            self.error(word.col, "mpls needs pop, push, modify or dec_ttl (tc/m_mpls.c)");
            return None;
        };
        match mode.text {
            "pop" => match proto {
                Some(proto) => Some(MplsAction::Pop { proto }),
                None => {
                    self.error(mode.col, "mpls pop: protocol needs to be set (as tc/m_mpls.c requires): the ethertype of what follows the entry");
                    None
                }
            },
            "push" => match label {
                Some(label) => Some(MplsAction::Push {
                    proto: proto.unwrap_or(ETHERTYPE_MPLS[0]),
                    label,
                    tc: tc.unwrap_or(0),
                    ttl: ttl.unwrap_or(255),
                    bos,
                }),
                None => {
                    self.error(mode.col, "mpls push: label needs to be set (as tc/m_mpls.c requires)");
                    None
                }
            },
            "modify" => Some(MplsAction::Modify { label, tc, ttl, bos }),
            _ => Some(MplsAction::DecTtl),
        }
    }

    /// `tunnel_key set|unset` and its options, read as tc/m_tunnel_key.c does: words
    /// abbreviated and tested in its order (`s` is set, `t` tos, `n` nocsum; `nofrag` whole),
    /// `id` and `dst_port` decimal, `tos` and `ttl` decimal else hex; with act_tunnel_key.c's
    /// limits (both addresses, of one family) and what the tunnels here can carry.
    fn tunnel_key(&mut self, word: Token<'a>) -> Option<TunnelKey> {
        const WORDS: [&str; 14] = [
            "unset",
            "set",
            "src_ip",
            "dst_ip",
            "id",
            "dst_port",
            "geneve_opts",
            "vxlan_opts",
            "erspan_opts",
            "tos",
            "ttl",
            "csum",
            "nocsum",
            "help",
        ];
        let mut mode = None::<Token<'a>>;
        let mut first_option = None::<Token<'a>>;
        let (mut src, mut dst) = (None::<(IpAddr, Token<'a>)>, None::<(IpAddr, Token<'a>)>);
        let mut set = TunnelSet {
            src_ip: IpAddr::from([0, 0, 0, 0]),
            dst_ip: IpAddr::from([0, 0, 0, 0]),
            id: None,
            dst_port: None,
            tos: None,
            ttl: None,
            csum: true,
        };
        let mut nocsum = None::<Token<'a>>;
        while let Some(t) = self.peek() {
            let text = t.text;
            let found = if text == "nofrag" {
                Some("nofrag")
            } else {
                WORDS.iter().copied().find(|w| tc_words::matches(text, w))
            };
            let Some(option) = found else { break };
            self.pos += 1;
            match option {
                "unset" | "set" => {
                    if let Some(first) = mode {
                        self.error(
                            t.col,
                            format!("tunnel_key: unexpected '{text}': the action is already `{}`", first.text),
                        );
                        return None;
                    }
                    mode = Some(Token { text: option, ..t });
                    continue;
                }
                "help" => {
                    self.error(t.col, "tunnel_key help prints tc's usage; it is no action");
                    return None;
                }
                // RFC 8926 §3.5 option TLVs; VXLAN-GBP; ERSPAN rides on GRE (RFC 1701 framing).
                "geneve_opts" => {
                    self.error(t.col, "tunnel_key geneve_opts: Geneve options (RFC 8926 §3.5) are not built here; Geneve goes without options (dst_port 6081)");
                    return None;
                }
                "vxlan_opts" => {
                    self.error(t.col, "tunnel_key vxlan_opts: the VXLAN Group Policy extension is not built here; VXLAN goes as RFC 7348 has it");
                    return None;
                }
                "erspan_opts" => {
                    self.error(t.col, "tunnel_key erspan_opts: ERSPAN (over GRE) tunnels are not built by tunnel_key here; tunnel_key builds VXLAN or Geneve");
                    return None;
                }
                _ => {}
            }
            first_option.get_or_insert(Token { text: option, ..t });
            match option {
                "csum" => nocsum = None,
                "nocsum" => nocsum = Some(t),
                // The outer IPv4 header here always says DF and nothing is fragmented (RFC
                // 7348 §4.3): what nofrag asks for.
                "nofrag" => {}
                _ => {
                    let Some(value) = self.next() else {
                        self.error(t.col, format!("tunnel_key {option} needs a value"));
                        return None;
                    };
                    if let Err(message) = self.tunnel_value(option, value, &mut set, &mut src, &mut dst) {
                        self.error(value.col, message);
                        return None;
                    }
                }
            }
        }
        let Some(mode) = mode else {
            self.error(word.col, "tunnel_key needs set or unset (tc/m_tunnel_key.c)");
            return None;
        };
        if mode.text == "unset" {
            if let Some(option) = first_option {
                self.error(option.col, format!("tunnel_key unset takes no {} (only set does)", option.text));
                return None;
            }
            return Some(TunnelKey::Unset);
        }
        let (Some((src_ip, _)), Some((dst_ip, dst_token))) = (src, dst) else {
            self.error(mode.col, "tunnel_key set needs src_ip and dst_ip (as tc/m_tunnel_key.c requires)");
            return None;
        };
        if src_ip.is_ipv4() != dst_ip.is_ipv4() {
            self.error(
                dst_token.col,
                "tunnel_key: src_ip and dst_ip must both be IPv4 or both IPv6 (as act_tunnel_key requires)",
            );
            return None;
        }
        if let (Some(t), true) = (nocsum, src_ip.is_ipv6()) {
            self.error(
                t.col,
                "tunnel_key nocsum over IPv6: a zero UDP checksum is not sent over IPv6 here (RFC 8200 §8.1)",
            );
            return None;
        }
        (set.src_ip, set.dst_ip, set.csum) = (src_ip, dst_ip, nocsum.is_none());
        Some(TunnelKey::Set(set))
    }

    /// The value of one `tunnel_key` option into `set` (the addresses with their tokens).
    fn tunnel_value(
        &mut self,
        option: &str,
        value: Token<'a>,
        set: &mut TunnelSet,
        src: &mut Option<(IpAddr, Token<'a>)>,
        dst: &mut Option<(IpAddr, Token<'a>)>,
    ) -> Result<(), String> {
        let what = format!("tunnel_key {option}");
        let mut notes = Vec::new();
        match option {
            "src_ip" | "dst_ip" => {
                let address = value
                    .text
                    .parse::<IpAddr>()
                    .map_err(|_| format!("{what} expects an IPv4 or IPv6 address, found '{}'", value.text))?;
                *if option == "src_ip" { src } else { dst } = Some((address, value));
            }
            // get_be32(.., 10), but a VNI is 24 bits (RFC 7348 §5, RFC 8926 §3.4): the
            // tunnel devices would drop the top byte.
            "id" => {
                let id = number_in(&what, value.text, 0xff_ffff, Base::Dec, &mut notes).map_err(|e| match e {
                    crate::lex::ValueError::OutOfRange { .. } => format!("{e} (a VNI is 24 bits: RFC 7348 §5)"),
                    e => e.to_string(),
                })?;
                set.id = Some(id as u32);
            }
            "dst_port" => {
                set.dst_port =
                    Some(number_in(&what, value.text, 0xffff, Base::Dec, &mut notes).map_err(|e| e.to_string())? as u16)
            }
            "tos" => set.tos = Some(dec_else_hex(&what, value.text, &mut notes).map_err(|e| e.to_string())?),
            _ => set.ttl = Some(dec_else_hex(&what, value.text, &mut notes).map_err(|e| e.to_string())?),
        }
        self.notes.extend(notes.into_iter().map(|note| (value.col, note)));
        Ok(())
    }

    /// `pedit [ex] munge ...` (tc/m_pedit.c `parse_pedit`: `ex` right after the word, then
    /// one or more `munge`; the words compared as tc does).
    fn pedit(&mut self, word: Token<'a>) -> Option<Pedit> {
        let extended = self.peek().is_some_and(|t| tc_words::matches(t.text, "ex"));
        if extended {
            self.pos += 1;
        }
        let mut munges = Vec::new();
        while let Some(t) = self.peek().filter(|t| tc_words::matches(t.text, "munge")) {
            self.pos += 1;
            munges.push(self.munge(t, extended)?);
        }
        if munges.is_empty() {
            let col = self.peek().map_or(word.col, |t| t.col);
            self.error(col, "pedit needs `munge HEADER FIELD set|add|... VALUE` (tc/m_pedit.c)");
            return None;
        }
        Some(Pedit { extended, munges })
    }

    /// One munge after the word `munge` (`at`): a header module's field (p_*.c, whose field
    /// names are compared exactly but for `dsfield` and `precedence`), its command
    /// (`parse_cmd`) and value, and `retain`.
    fn munge(&mut self, at: Token<'a>, extended: bool) -> Option<Munge> {
        const HEADERS: &str = "eth, ip, ip6, tcp or udp";
        let Some(header) = self.next() else {
            self.error(at.col, format!("pedit munge needs a header ({HEADERS}) and field"));
            return None;
        };
        if tc_words::matches(header.text, "offset") {
            self.error(header.col, "pedit munge offset (raw bytes from the IP header) is not supported: a raw write can change lengths, protocols or checksums this dataplane keeps right; name the field (munge ip ttl ...)");
            return None;
        }
        let h = header.text;
        if !["eth", "ip", "ip6", "tcp", "udp"].contains(&h) {
            let why = if h == "icmp" { "is not carried out here" } else { "is not a header tc's pedit knows" };
            self.error(header.col, format!("pedit munge {h} {why} (expected eth, ip, ip6, tcp, udp or offset)"));
            return None;
        }
        if !extended && h != "ip" {
            self.error(header.col, format!("pedit munge {h} needs `pedit ex` (tc/p_{h}.c)"));
            return None;
        }
        let Some(name) = self.next() else {
            self.error(header.col, format!("pedit munge {h} needs a field"));
            return None;
        };
        let f = name.text;
        let field = match (h, f) {
            ("eth", "dst") => PeditField::EthDst,
            ("eth", "src") => PeditField::EthSrc,
            ("ip", "src") => PeditField::IpSrc,
            ("ip", "dst") => PeditField::IpDst,
            ("ip", "tos") => PeditField::IpTos,
            ("ip", _) if tc_words::matches(f, "dsfield") => PeditField::IpTos,
            ("ip", "ttl") => PeditField::IpTtl,
            ("ip", "ihl" | "protocol") => return self.munge_refused(name, h, "it changes how the packet is read"),
            ("ip", _) if tc_words::matches(f, "precedence") => PeditField::IpTos,
            ("ip", "nofrag" | "firstfrag" | "ce" | "df" | "mf") => {
                return self.munge_refused(name, h, "the flag and fragment bits are not carried out here")
            }
            ("ip", "sport" | "dport" | "icmp_type" | "icmp_code") if extended => {
                self.error(name.col, format!("pedit ex munge ip {f}: a field outside the IP header is named by its own header in pedit ex (munge tcp|udp {f}) (tc/p_ip.c)"));
                return None;
            }
            ("ip", "sport") => PeditField::IpSport,
            ("ip", "dport") => PeditField::IpDport,
            ("ip", "icmp_type" | "icmp_code") => return self.munge_refused(name, h, "ICMP is not carried out here"),
            ("ip6", "src") => PeditField::Ip6Src,
            ("ip6", "dst") => PeditField::Ip6Dst,
            ("ip6", "hoplimit") => PeditField::Ip6HopLimit,
            ("ip6", "flow_lbl" | "traffic_class" | "payload_len" | "nexthdr") => {
                return self.munge_refused(name, h, "not carried out here")
            }
            ("eth", "type") => return self.munge_refused(name, h, "it changes how the frame is read"),
            ("tcp", "sport") => PeditField::TcpSport,
            ("tcp", "dport") => PeditField::TcpDport,
            ("tcp", "flags") => PeditField::TcpFlags,
            ("udp", "sport") => PeditField::UdpSport,
            ("udp", "dport") => PeditField::UdpDport,
            _ => {
                let known = match h {
                    "eth" => "src, dst",
                    "ip" if extended => "src, dst, tos, dsfield, ttl",
                    "ip" => "src, dst, tos, dsfield, ttl, sport, dport",
                    "ip6" => "src, dst, hoplimit",
                    "tcp" => "sport, dport, flags",
                    _ => "sport, dport",
                };
                self.error(name.col, format!("pedit munge {h}: unknown field '{f}' (expected {known})"));
                return None;
            }
        };
        let words = format!("pedit munge {h} {f}");
        let Some(cmd) = self.next() else {
            self.error(name.col, format!("{words} needs set, add, decrement, clear, invert or preserve"));
            return None;
        };
        // parse_cmd's order: `s` is set, `d` decrement, `p` preserve.
        const CMDS: [&str; 6] = ["invert", "set", "add", "decrement", "preserve", "clear"];
        let Some(&word) = CMDS.iter().find(|c| tc_words::matches(cmd.text, c)) else {
            self.error(
                cmd.col,
                format!("{words}: expected set, add, decrement, clear, invert or preserve, found '{}'", cmd.text),
            );
            return None;
        };
        let width = field.width();
        let bits = 8 * width as u32;
        if matches!(word, "add" | "decrement") && !extended {
            self.error(cmd.col, format!("{words} {word} needs `pedit ex` (without it tc only sets)"));
            return None;
        }
        if word == "decrement" && !matches!(field, PeditField::IpTtl | PeditField::Ip6HopLimit) {
            self.error(cmd.col, format!("{words}: decrement is for ttl and hoplimit only (tc/p_ip.c, p_ip6.c)"));
            return None;
        }
        if word == "add" && width > 4 {
            self.error(
                cmd.col,
                format!("{words} add: a {bits}-bit add is not supported (tc adds to each 32-bit word apart)"),
            );
            return None;
        }
        let mut retain = field.full_retain();
        let (cmd_kind, value) = match word {
            "set" | "add" => {
                let Some(v) = self.next() else {
                    self.error(cmd.col, format!("{words} {word} needs a value"));
                    return None;
                };
                let value = match width {
                    6 => mac(v.text).map(u128::from).ok_or("a MAC address aa:bb:cc:dd:ee:ff".to_owned()),
                    16 => v.text.parse::<Ipv6Addr>().map(u128::from).map_err(|_| "an IPv6 address".to_owned()),
                    4 => v
                        .text
                        .parse::<Ipv4Addr>()
                        .map(|a| u128::from(u32::from(a)))
                        .map_err(|_| "an IPv4 address".to_owned()),
                    _ => {
                        // get_u32(.., 0), then pack_key8/16's limit.
                        let mut notes = Vec::new();
                        let n =
                            number_in(format!("{words} {word}"), v.text, (1u64 << bits) - 1, Base::Auto, &mut notes);
                        self.notes.extend(notes.into_iter().map(|note| (v.col, note)));
                        n.map(u128::from).map_err(|e| e.to_string())
                    }
                };
                match value {
                    Ok(value) => (if word == "set" { PeditCmd::Set } else { PeditCmd::Add }, value),
                    Err(message) if width <= 2 => {
                        self.error(v.col, message);
                        return None;
                    }
                    Err(expected) => {
                        self.error(v.col, format!("{words} {word} expects {expected}, found '{}'", v.text));
                        return None;
                    }
                }
            }
            // Add all ones: minus one, wrapping.
            "decrement" => (PeditCmd::Add, 0xff),
            "invert" => (PeditCmd::Invert, 0),
            "preserve" => {
                retain = 0;
                (PeditCmd::Set, 0)
            }
            _ => (PeditCmd::Set, 0),
        };
        if let Some(t) = self.peek().filter(|t| tc_words::matches(t.text, "retain")) {
            self.pos += 1;
            let Some(v) = self.next() else {
                self.error(t.col, format!("{words}: retain needs a mask"));
                return None;
            };
            if width > 4 {
                self.error(
                    t.col,
                    format!("{words}: retain is not supported for fields longer than 32 bits (as tc says)"),
                );
                return None;
            }
            let mut notes = Vec::new();
            match number_in(format!("{words} retain"), v.text, u64::from(field.full_retain()), Base::Auto, &mut notes) {
                Ok(mask) => retain = mask as u32,
                Err(message) => {
                    self.error(v.col, message.to_string());
                    return None;
                }
            }
            self.notes.extend(notes.into_iter().map(|note| (v.col, note)));
        }
        Some(Munge { field, cmd: cmd_kind, value, retain })
    }

    fn munge_refused<T>(&mut self, name: Token<'a>, header: &str, why: &str) -> Option<T> {
        self.error(name.col, format!("pedit munge {header} {} is not supported: {why}", name.text));
        None
    }

    /// `csum WORD...` (tc/m_csum.c `parse_csum_args`): which checksums tc's act_csum would
    /// compute again. Here a no-op (noted): every rewrite keeps them right already. Refused
    /// for UDP-Lite, whose checksum this dataplane does not keep.
    fn csum(&mut self, word: Token<'a>) -> Option<Action> {
        let mut flags = 0u8;
        let mut any = false;
        while let Some(t) = self.peek() {
            let text = t.text;
            if let Some(&(name, bit)) = CSUM_WORDS.iter().find(|(w, _)| tc_words::matches(text, w)) {
                if name == "udplite" {
                    self.error(t.col, "csum udplite: UDP-Lite checksums are not kept by this dataplane's rewrites");
                    return None;
                }
                flags |= bit;
            } else if !["and", "or", "+"].iter().any(|w| tc_words::matches(text, w)) {
                break;
            }
            any = true;
            self.pos += 1;
        }
        if !any && self.peek().is_none() {
            self.error(word.col, "csum needs what to update (e.g. csum iph tcp udp) (tc/m_csum.c)");
            return None;
        }
        self.notes.push((
            word.col,
            "csum does nothing here: the dataplane's rewrites keep every checksum right; it does not repair a frame that arrived with a wrong one, as tc's would (--csum fix does)".to_owned(),
        ));
        Some(Action::Csum(flags))
    }

    /// `gate` and its options, read as tc/m_gate.c reads them (words abbreviated in its
    /// order, so `c` is cycle-time and `p` priority; `open`/`close` in any case), with
    /// act_gate.c's limits, then its control word (`pipe` unless given).
    fn gate(&mut self, word: Token<'a>) -> Option<Gate> {
        const OPTIONS: [&str; 9] = [
            "index",
            "priority",
            "base-time",
            "cycle-time",
            "cycle-time-ext",
            "clockid",
            "flags",
            "sched-entry",
            "help",
        ];
        let mut gate = Gate {
            index: None,
            clock: GateClock::Tai,
            base_time: 0,
            cycle_time: 0,
            cycle_time_ext: 0,
            priority: -1,
            flags: 0,
            entries: Vec::new(),
            control: Control::Pipe,
        };
        let mut given = false; // an option other than index
        while let Some(t) = self.peek() {
            let Some(&option) = OPTIONS.iter().find(|o| tc_words::matches(t.text, o)) else { break };
            self.pos += 1;
            if option == "help" {
                self.error(t.col, "gate help: tc prints its usage here and adds nothing");
                return None;
            }
            let Some(value) = self.next() else {
                let what = if option == "sched-entry" { "open or close, and an interval" } else { "a value" };
                self.error(t.col, format!("gate {option} needs {what}"));
                return None;
            };
            given |= option != "index";
            let bad = |this: &mut Self, expected: &str| -> Option<Gate> {
                this.error(value.col, format!("gate {option} expects {expected}, found '{}'", value.text));
                None
            };
            match option {
                "index" => match tc_words::parse_in(value.text, Base::Dec).ok().and_then(|n| u32::try_from(n).ok()) {
                    Some(n) => gate.index = Some(n),
                    None => return bad(self, "a decimal number 0..=4294967295 (tc reads it in base 10)"),
                },
                "priority" => match tc_words::signed_in(value.text, Base::Auto).and_then(|n| i32::try_from(n).ok()) {
                    Some(n) => gate.priority = n,
                    None => return bad(self, "a 32-bit signed number (decimal, 0x hex or 0-octal)"),
                },
                "flags" => match tc_words::parse_in(value.text, Base::Auto).ok().and_then(|n| u32::try_from(n).ok()) {
                    Some(n) => gate.flags = n,
                    None => return bad(self, "a 32-bit number (decimal, 0x hex or 0-octal)"),
                },
                "clockid" => {
                    // get_clockid: `CLOCK_` optional, any case.
                    let upper = value.text.to_ascii_uppercase();
                    let name = upper.strip_prefix("CLOCK_").unwrap_or(&upper);
                    match GateClock::ALL.iter().find(|(_, n)| *n == name) {
                        Some((clock, _)) => gate.clock = *clock,
                        None => return bad(self, "CLOCK_TAI, CLOCK_REALTIME, CLOCK_BOOTTIME or CLOCK_MONOTONIC"),
                    }
                }
                "sched-entry" => gate.entries.push(self.gate_entry(value)?),
                // base-time, cycle-time, cycle-time-ext: get_s64(.., 10), else get_time64.
                _ => {
                    let Some(ns) = tc_words::signed_in(value.text, Base::Dec).or_else(|| tc_words::time_ns(value.text))
                    else {
                        return bad(self, "a time as tc reads it (e.g. 200ms, 1.5s, 100us; a bare number is ns)");
                    };
                    if option == "base-time" {
                        gate.base_time = ns;
                        continue;
                    }
                    let Ok(ns) = u64::try_from(ns) else {
                        self.error(
                            value.col,
                            format!("gate {option} {} is negative (act_gate reads it as unsigned ns)", value.text),
                        );
                        return None;
                    };
                    if option == "cycle-time" {
                        gate.cycle_time = ns;
                    } else {
                        gate.cycle_time_ext = ns;
                    }
                }
            }
        }
        if let Some(t) = self.peek() {
            if let Some(control) = control_word(t.text) {
                self.pos += 1;
                gate.control = self.control(t, control)?;
            }
        }
        match gate.index {
            // A gate defined by another rule of the file (RuleSet::new's caller binds it).
            Some(index) if gate.entries.is_empty() && (given || gate.control != Control::Pipe) => {
                self.error(word.col, format!("gate index {index} alone shares a gate: its schedule and control word are those of the rule that defines it (the kernel binds to it and ignores these), give them there"));
                return None;
            }
            None if gate.entries.is_empty() => {
                self.error(word.col, "gate: must add at least one sched-entry (as tc/m_gate.c requires)");
                return None;
            }
            _ => {}
        }
        if !gate.entries.is_empty() && gate.cycle() > i64::MAX as u64 {
            self.error(word.col, "gate: the cycle is longer than 2^63 ns");
            return None;
        }
        Some(gate)
    }

    /// One `sched-entry open|close INTERVAL [IPV [MAXOCTETS]]` after the word, `state` its
    /// first value: the interval `get_u32(.., 0)` else `get_time64`, 1..=u32::MAX ns; IPV
    /// `get_s32(.., 0)`, MAXOCTETS that or `get_size`, each read only where it is one
    /// (otherwise the word is the next option's, as m_gate.c's PREV_ARG has it), and both
    /// wildcards on a close entry (m_gate.c sets them so).
    fn gate_entry(&mut self, state: Token<'a>) -> Option<GateEntry> {
        let open = if state.text.eq_ignore_ascii_case("open") {
            true
        } else if state.text.eq_ignore_ascii_case("close") {
            false
        } else {
            self.error(state.col, format!("gate sched-entry expects open or close, found '{}'", state.text));
            return None;
        };
        let Some(value) = self.next() else {
            self.error(state.col, "gate sched-entry needs an interval after open or close");
            return None;
        };
        let interval = match tc_words::parse_in(value.text, Base::Auto) {
            Ok(n) if n <= u64::from(u32::MAX) => Some(n),
            Ok(_) => None,
            Err(_) => tc_words::time_ns(value.text).and_then(|n| u64::try_from(n).ok()),
        };
        let interval = match interval {
            Some(0) => {
                self.error(value.col, "gate sched-entry interval 0: act_gate refuses an empty interval");
                return None;
            }
            Some(n) if n <= u64::from(u32::MAX) => n as u32,
            Some(_) => {
                self.error(
                    value.col,
                    format!("gate sched-entry interval {} is too large (at most 4294967295 ns)", value.text),
                );
                return None;
            }
            None => {
                self.error(value.col, format!("gate sched-entry interval expects a time as tc reads it (e.g. 200ms, 100us; a bare number is ns), found '{}'", value.text));
                return None;
            }
        };
        let mut entry = GateEntry { open, interval, ipv: -1, max_octets: None };
        let Some(ipv) =
            self.peek().and_then(|t| tc_words::signed_in(t.text, Base::Auto)).and_then(|n| i32::try_from(n).ok())
        else {
            return Some(entry);
        };
        self.pos += 1;
        entry.ipv = if open { ipv } else { -1 };
        let Some(t) = self.peek() else { return Some(entry) };
        let octets = match tc_words::signed_in(t.text, Base::Auto).and_then(|n| i32::try_from(n).ok()) {
            Some(n) => Some(i64::from(n)),
            // get_size: 0 leaves the wildcard (m_gate.c takes only a non-zero size).
            None => tc_words::size_bytes(t.text).filter(|&n| n <= u64::from(u32::MAX)).map(|n| {
                if n == 0 {
                    -1
                } else {
                    n as i64
                }
            }),
        };
        let Some(octets) = octets else { return Some(entry) };
        self.pos += 1;
        if octets > i64::from(i32::MAX) {
            self.error(t.col, format!("gate sched-entry maxoctets {} is too large (at most 2147483647)", t.text));
            return None;
        }
        // act_gate counts octets only where the limit is not negative.
        entry.max_octets = if open { u32::try_from(octets).ok() } else { None };
        Some(entry)
    }

    /// `police` and its options (tc/m_police.c): `rate R burst B` or `pkts_rate R
    /// pkts_burst B`, `mtu M`, and what conforming and exceeding frames get (`conform-exceed
    /// EXCEED[/CONFORM]`, or a control word alone for EXCEED).
    fn police(&mut self, word: Token<'a>) -> Option<Police> {
        let mut rate: Option<u64> = None;
        let mut burst: Option<u64> = None;
        let (mut pkts_rate, mut pkts_burst, mut mtu) = (None::<u64>, None::<u64>, None::<u64>);
        let (mut exceed, mut conform) = (None::<Control>, Control::Pass);
        let mut index = None::<u32>;
        while let Some(t) = self.peek() {
            let option = t.text;
            let reader: fn(&str) -> Option<u64> = match option {
                // First in m_police.c's order, so `i` is index; `get_u32(.., 10)`.
                _ if tc_words::matches(option, "index") => {
                    self.pos += 1;
                    let Some(value) = self.next() else {
                        self.error(t.col, "police index needs a value");
                        return None;
                    };
                    let mut notes = Vec::new();
                    match number_in("police index", value.text, u64::from(u32::MAX), Base::Dec, &mut notes) {
                        Ok(n) => index = Some(n as u32),
                        Err(message) => {
                            self.error(value.col, message.to_string());
                            return None;
                        }
                    }
                    continue;
                }
                "rate" => tc_words::rate_bytes,
                "burst" | "buffer" | "maxburst" | "mtu" | "minburst" => tc_words::size_bytes,
                "pkts_rate" | "pkts_burst" => |text| text.parse().ok(),
                _ if tc_words::matches(option, "burst") => tc_words::size_bytes,
                "conform-exceed" => {
                    self.pos += 1;
                    let Some(value) = self.next() else {
                        self.error(t.col, "conform-exceed needs EXCEED[/CONFORM] (e.g. drop/pipe)");
                        return None;
                    };
                    if let Some((ex, co)) = value.text.split_once('/') {
                        exceed = Some(self.control_text(value, ex)?);
                        conform = self.control_text(value, co)?;
                        continue;
                    }
                    // tc_util.c's spaced form: `EXCEED [/ CONFORM]`, each a whole control word
                    // with its number (`jump 1 / pipe`, `goto chain 2 / pass`).
                    let Some(word) = control_word(value.text) else {
                        self.control_text(value, value.text)?;
                        return None;
                    };
                    exceed = Some(self.control(value, word)?);
                    if self.peek().is_some_and(|t| t.text == "/") {
                        self.pos += 1;
                        let Some(second) = self.next() else {
                            self.error(end_col(self.content), "conform-exceed: a control word after '/'");
                            return None;
                        };
                        let Some(word) = control_word(second.text) else {
                            self.control_text(second, second.text)?;
                            return None;
                        };
                        conform = self.control(second, word)?;
                    }
                    continue;
                }
                "peakrate" | "avrate" | "overhead" | "linklayer" | "mpu" => {
                    self.error(t.col, format!("police {option}: this police option is not supported (rate/burst, pkts_rate/pkts_burst, mtu, conform-exceed and index are)"));
                    return None;
                }
                _ => match control_word(option) {
                    Some(control) => {
                        self.pos += 1;
                        exceed = Some(self.control(t, control)?);
                        continue;
                    }
                    None => break,
                },
            };
            self.pos += 1;
            let Some(value) = self.next() else {
                self.error(t.col, format!("police {option} needs a value"));
                return None;
            };
            let Some(number) = reader(value.text) else {
                let expected = match option {
                    "rate" => "a rate as tc reads it (e.g. 50mbit, 1gbit, 100kbps; a bare number is bit/s)",
                    o if o.starts_with("pkts") => "a decimal number of packets",
                    _ => "a size as tc reads it (e.g. 64k, 1500, 1m; a bare number is bytes)",
                };
                self.error(value.col, format!("police {option} expects {expected}, found '{}'", value.text));
                return None;
            };
            let slot = match option {
                "rate" => &mut rate,
                "mtu" | "minburst" => &mut mtu,
                "pkts_rate" => &mut pkts_rate,
                "pkts_burst" => &mut pkts_burst,
                _ => &mut burst,
            };
            if slot.is_some() {
                self.error(t.col, format!("police: duplicate {option}"));
                return None;
            }
            *slot = Some(number);
        }
        if let (Some(index), None, None, None, None) = (index, rate, burst, pkts_rate, mtu) {
            // A policer defined by another rule of the file (RuleSet::new's caller binds it).
            if exceed.is_some() {
                self.error(
                    word.col,
                    format!("police index {index} alone shares a policer: its verdicts are those of the rule that defines it, give them there"),
                );
                return None;
            }
            // Until bound, it pipes (so no "never run" note for the actions after it).
            return Some(Police {
                rate: None,
                mtu: None,
                exceed: Control::Pipe,
                conform: Control::Pipe,
                index: Some(index),
            });
        }
        let problem = match (rate, burst, pkts_rate, pkts_burst) {
            (None, _, None, _) if mtu.is_none() => Some("'rate', 'mtu', 'pkts_rate' or 'index' must be given"),
            (None, Some(_), _, _) => Some("'burst' requires 'rate'"),
            (_, _, None, Some(_)) => Some("'pkts_burst' requires 'pkts_rate'"),
            (_, _, Some(_), None) => Some("'pkts_rate' requires 'pkts_burst'"),
            (Some(_), None, _, _) => Some("'rate' requires 'burst' (the bucket's depth)"),
            (Some(_), _, Some(_), _) => Some("'rate' and 'pkts_rate' are not allowed in the same action"),
            _ => None,
        };
        if let Some(problem) = problem {
            self.error(word.col, format!("police: {problem} (as tc/m_police.c requires)"));
            return None;
        }
        let Some(exceed) = exceed else {
            self.error(
                word.col,
                "police: without conform-exceed, tc's exceed action is reclassify, which is not supported: \
                 write conform-exceed drop[/pipe]",
            );
            return None;
        };
        let rate = match (rate, burst, pkts_rate, pkts_burst) {
            (Some(per_second), Some(burst), _, _) => Some(PoliceRate::Bytes { per_second, burst }),
            (_, _, Some(per_second), Some(burst)) => Some(PoliceRate::Packets { per_second, burst }),
            _ => None,
        };
        Some(Police { rate, mtu, exceed, conform, index })
    }

    /// One half of `conform-exceed EXCEED/CONFORM`, a control word without a number (tc reads
    /// `goto chain N` and `jump N` only in the spaced form, `jump 1 / pipe`).
    fn control_text(&mut self, at: Token<'a>, text: &str) -> Option<Control> {
        match control_word(text) {
            Some("continue") => Some(Control::Continue),
            Some("drop" | "shot") => Some(Control::Drop),
            Some("pass" | "ok") => Some(Control::Pass),
            Some("pipe") => Some(Control::Pipe),
            Some(other) => {
                self.error(
                    at.col,
                    format!("conform-exceed {other} is not supported here (drop, pass/ok, pipe or continue are; `goto chain N` and `jump N` in the spaced form: `jump 1 / pipe`)"),
                );
                None
            }
            None => {
                self.error(
                    at.col,
                    format!("conform-exceed expects control words (drop, pass/ok, pipe, continue, goto chain N, jump N), found '{text}'"),
                );
                None
            }
        }
    }
}

/// The control word `text` abbreviates, as tc reads it.
fn control_word(text: &str) -> Option<&'static str> {
    CONTROL_WORDS.iter().copied().find(|word| tc_words::matches(text, word))
}
