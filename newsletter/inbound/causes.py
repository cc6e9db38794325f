"""Why one recipient's delivery failed, from its status code and the remote server's words.

Hard (the address itself is gone): the mailbox or the domain does not exist, or it moved.
Everything else is soft: a full or disabled mailbox, a message that expired in a queue, a
temporary failure, and above all a refusal for policy or spam reasons, which says something
about *us* (our reputation, our authentication), not about the address.

The words decide before the code: servers answer "550 5.1.1" for a spam block and "550 5.0.0"
for an unknown user often enough that the code alone gets one bounce in five wrong. Each list
below is tried in order; the first that matches names the cause.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Cause(StrEnum):
    USER_UNKNOWN = "user-unknown"
    DOMAIN_UNKNOWN = "domain-unknown"
    MOVED = "moved"
    MAILBOX_FULL = "mailbox-full"
    DISABLED = "disabled"
    POLICY = "policy"  # spam, block lists, reputation, authentication: our problem
    REJECTED = "rejected"  # refused for another reason (relaying, sender, content)
    TOO_LARGE = "too-large"
    EXPIRED = "expired"
    TEMPORARY = "temporary"
    DELAYED = "delayed"  # a warning: the message is still queued
    OTHER = "other"


HARD_CAUSES = frozenset({Cause.USER_UNKNOWN, Cause.DOMAIN_UNKNOWN, Cause.MOVED})
# Soft bounces that count towards the member's bounce score. A policy block is about us, and
# a delay is followed by a delivery or by a failure of its own.
SCORED_CAUSES = frozenset(
    {
        Cause.MAILBOX_FULL,
        Cause.DISABLED,
        Cause.REJECTED,
        Cause.TOO_LARGE,
        Cause.EXPIRED,
        Cause.TEMPORARY,
        Cause.OTHER,
    }
)


def _phrases(*words: str) -> re.Pattern[str]:
    return re.compile("|".join(words))


# Unmistakable: these win over anything else in the text.
MAILBOX_FULL = _phrases(
    r"mailbox (is |was )?full",
    r"mailbox_full",
    r"full mailbox",
    r"inbox is full",
    r"mail ?box.{0,20}(exceeded|over).{0,20}(quota|limit|size)",
    r"(over|exceed(ed|s)?( the)?|reached( the)?|exhausted( its)?) "
    r"(the )?(storage |mail |disk |mailbox |size )?(quota|storage limit)",
    r"over ?quota",
    r"quota (exceeded|exceed|full|violation)",
    r"user is over( the)? quota",
    r"mailbox size limit",
    r"mail ?folder is full",
    r"storage (space )?(is )?full",
    r"out of storage",
    r"not enough (storage|space|disk)",
    r"insufficient (mailbox )?storage( space)? (for|in) (the )?(user|mailbox|recipient)",
    r"account is full",
    r"exceeds? (his|her|their|the user's|the recipient's) (storage|quota)",
    r"space (has )?(run|ran) out",
    r"mailbox has exceeded",
    r"exceeding (the |their |its |his |her )?(storage |mail |disk |mailbox )?quota",
    r"postfach (ist )?voll|speicherplatz|bo[iî]te (aux lettres )?pleine",
    r"quota d[ée]pass|buz[oó]n lleno",
)
SPAM_OR_REPUTATION = _phrases(
    r"\bspam",
    r"junk mail",
    r"\bunsolicited",
    r"block ?list",
    r"black ?list",
    r"deny ?list",
    r"\bblocked (using|by|because|for|due)",
    r"\b(ip|address|host|sender|domain|message|mail|connection|client)( \S+)? "
    r"(is |was |has been |have been )?blocked",
    r"\bdnsbl",
    r"\brbl\b",
    r"spamhaus",
    r"spamcop",
    r"barracuda",
    r"sorbs",
    r"\bsurbl",
    r"uribl",
    r"reputation",
    r"\bdmarc",
    r"\bspf\b",
    r"\bdkim",
    r"not authenticated",
    r"authentication (failed|required|failure)",
    r"unauthenticated",
    r"\bptr\b",
    r"reverse dns",
    r"rdns",
    r"\bvirus",
    r"malware",
    r"suspicious",
    r"phish",
    r"bulk (mail|e-?mail|sender)",
    r"content (rejected|filter|policy)",
    r"message (content )?(rejected|refused) (as|because|due)",
    r"(rejected|refused|blocked) (for|due to|by|under) (local )?(policy|policy reasons|security)",
    r"policy (violation|reasons|rejection)",
    r"\bs3150\b",
    r"\bs3140\b",
    r"ironport",
    r"(too many|excessive) (complaints|messages from)",
    r"user complaints",
    r"low (sender )?score",
    r"(rejected|rejecting) (by|because of) (the )?(recipient'?s? )?(filter|filtering|mail policy)",
    r"(mail|message|email) (was )?(flagged|identified|classified|considered|detected) as",
    r"(is|are|was|been|currently) listed (at|in|on|by)",
    r"listed in (a |an |the )?(rbl|dnsbl|block|black|deny|spam)",
    r"(message|mail|this) (looks like|appears to be|seems to be)",
    r"your (ip|server|domain|network|mail server|sending)",
    r"(ip|sender) address .{0,60}(rejected|refused|denied|not allowed|banned)",
    r"\bbanned",
    r"https?://\S*(spam|block|blacklist|sendersupport)",
)
DISABLED = _phrases(
    r"\b(account|mailbox|user|address|recipient) (has been |is |was )?(temporarily )?"
    r"(disabled|suspended|deactivated|inactive|locked|frozen|blocked)",
    r"(disabled|suspended|deactivated|inactive|locked|frozen) (account|mailbox|user)",
    r"\bis (disabled|suspended|deactivated|inactive)",
    r"account (is )?(not active|not in use|expired)",
    r"mail receiving disabled",
    r"(mailbox|account) (is )?(currently )?(unavailable|not available) (due to|because)",
    r"\bsuspend",
    r"\bdisabled\b",
    r"\binactive\b",
)
USER_UNKNOWN = _phrases(
    r"\buser( name| account)? (is )?"
    r"(unknown|not known|not found|invalid|doesn'?t exist|does not exist|not exist)",
    r"\bunknown (user|recipient|mailbox|address|local[ -]?part|alias|e-?mail address|account)",
    r"(recipient|addressee|mailbox|address|account|e-?mail address|email account|mail account"
    r"|user|alias|local[ -]?part)( name)?( \S+){0,3} (is |was )?"
    r"(unknown|not found|not exist|does not exist|doesn'?t exist|did not exist|non-?existent"
    r"|no longer exists|not valid|invalid|not listed|could not be found|couldn'?t be found"
    r"|was not found|wasn'?t found|rejected: user unknown)",
    r"\bno such (user|mailbox|recipient|address|person|account|local user|e-?mail|user here|alias)",
    r"\bno (mailbox|user|account|recipient) (here )?(by that name|found|with|exists|for)",
    r"\binvalid (recipient|mailbox|address|user|e-?mail address|account)",
    r"\bnot a (valid|known) (user|mailbox|recipient|address|account)",
    r"(address|recipient|mailbox|user|account) (does not|doesn'?t) exist",
    r"\bdoes not exist\b",
    r"\bdoesn'?t exist\b",
    r"\bdoesn'?t have an? (\S+ )?account",
    r"\bunrout(e)?able address",
    r"\buser not found",
    r"\brecipientnotfound",
    r"\bbad (destination )?(recipient|mailbox( address)?|address)",
    r"\bno longer (valid|exists|active|in use|available)",
    r"(wasn'?t|was not|couldn'?t be|could not be|cannot be) found at",
    r"address couldn'?t be found",
    r"not listed in (the )?(domino|public name|address book|directory)",
    r"\bunknown or illegal alias",
    r"(user|recipient|mailbox) lookup failed",
    r"\bmailbox unavailable\b",
    r"\brecipient (address )?rejected: (user unknown|undeliverable|invalid|access denied)",
    r"\bnot our customer",
    r"\bundeliverable address",
    r"there is no one at this address",
    r"\bno valid recipients?\b",
    r"\baddress not present in directory",
    r"\bdisconnected (account|user)",
    r"\bdeleted (account|user|mailbox)",
    r"(account|mailbox|user) (has been |was )?"
    r"(deleted|removed|closed|terminated|cancel+ed|discontinued)",
    r"\bunknown in (virtual|local|relay) (alias|mailbox|recipient)",
    r"\binvalid (final delivery )?user ?id",
    r"(benutzer|empf[aä]nger|adresse|mailbox) (ist )?unbekannt|existiert nicht",
    r"n'existe pas|(destinataire|utilisateur|adresse) inconnue?",
    r"no existe|(usuario|destinatario) desconocido|n[aã]o existe|usu[aá]rio desconhecido",
    r"utente (sconosciuto|inesistente)|non esiste|onbekende (gebruiker|ontvanger)|bestaat niet",
)
DOMAIN_UNKNOWN = _phrases(
    r"host (or domain name )?(not found|unknown)",
    r"\bunknown host",
    r"domain (name )?"
    r"(not found|does not exist|doesn'?t exist|unknown|is not valid|not valid|invalid)",
    r"\bno such (domain|host)",
    r"\bunknown domain",
    r"\bnxdomain",
    r"name or service not known",
    r"\bunrout(e)?able (mail )?domain",
    r"\bno (mx|mail exchanger|dns|a) records?",
    r"\bnull mx",
    r"(domain|host) does not accept (e-?)?mail",
    r"(name service|dns) error",
    r"\bnonexistent (domain|host)",
    r"\bhost lookup (did not complete|failed)",
    r"\bnot a valid domain",
    r"\bbad destination (host|system)",
    r"\bcould not resolve",
)
MOVED = _phrases(
    r"\b(mailbox|user|address|account|recipient) (has )?moved",
    r"\bno longer (at|with|employed|works|working)",
    r"\bhas (left|changed (his|her|their) (e-?mail|address))",
    r"\bnew (e-?mail )?address is",
    r"\bchanged (e-?mail )?address",
)
TOO_LARGE = _phrases(
    r"(message|mail|e-?mail) (is )?too (large|big)",
    r"(message|mail) size (exceeds|limit|too)",
    r"exceeds? (the )?(maximum )?(message )?size",
    r"size limit",
    r"message length exceeds",
)
# A refusal of our envelope sender ("Sender address rejected: Domain not found") says nothing
# about the recipient, whatever else the words say.
ABOUT_OUR_SENDER = _phrases(
    r"sender (address )?(rejected|refused|denied|verify failed|not allowed|domain)",
    r"(mail from|envelope sender|return-path) .{0,40}(rejected|refused|denied|invalid)",
)
# The receiving server does not take mail for this domain (a wrong MX, a domain gone elsewhere).
NO_RELAY = _phrases(
    r"relay(ing)? (access )?(denied|not permitted|prohibited|refused|not allowed)",
    r"(we do not|unable to|cannot|will not|not permitted to) relay",
    r"isn'?t in my list of allowed rcpthosts",
)
RELAY_OR_SENDER = _phrases(
    r"sender (address )?(rejected|refused|denied|verify failed|not allowed)",
    r"\baccess denied",
    r"\bnot allowed\b",
    r"\bprohibited\b",
    r"\brefused\b",
    r"\brejected\b",
    r"\bdenied\b",
)
EXPIRED = _phrases(
    r"\bexpired\b",
    r"retry time(out)? (not reached|exceeded)",
    r"(too long|too many hours|[0-9]+ (days|hours)) (in|on) (the )?queue",
    r"could not be delivered (for|within|in) [0-9]+",
    r"(was|has) not been delivered (for|within)",
    r"gave up",
    r"giving up",
    r"time(d)? out (while|waiting|delivering)",
    r"delivery time expired",
    r"message (is )?too old",
    r"maximum (time|retry)",
    r"undeliverable for [0-9]+",
    r"failed [0-9]+ attempts",
    r"aborted after [0-9.]+ (hour|day)",
    r"(was|has been|has) not (been )?delivered (for|within|in) ",
    r"not (been )?delivered within",
)
TEMPORARY = _phrases(
    r"gr[ae]y ?list",
    r"try (again )?later",
    r"\btemporar(y|ily)",
    r"\bdeferred\b",
    r"too many (connections|concurrent|messages|recipients)",
    r"rate ?limit",
    r"throttl",
    r"(connection|connect) (timed out|refused|reset|lost|failed)",
    r"\btimeout\b",
    r"\btimed out\b",
    r"insufficient system (storage|resources)",
    r"system (error|busy|unavailable)",
    r"service (temporarily )?(unavailable|not available)",
    r"resources? (temporarily )?unavailable",
    r"local error in processing",
    r"\bnetwork (error|is unreachable)",
    r"no route to host",
    r"\bloops? back to myself",
    r"mail loop",
    r"too many hops",
)

AFTER_DATA = re.compile(r"in reply to end of data command|after end of data|after data\b")
STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
REPLY = re.compile(r"(?<![\d.#-])([245][0-9][0-9])(?:[ -]|$)")
SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Verdict:
    cause: Cause
    status: str  # the RFC 3463 code found ("" if none)

    @property
    def hard(self) -> bool:
        return self.cause in HARD_CAUSES


def find_status(*texts: str) -> str:
    """The first RFC 3463 status code ("5.1.1") in the texts, or ""."""
    for text in texts:
        match = STATUS.search(text or "")
        if match:
            return ".".join(match.groups())
    return ""


def judge(status: str, diagnostic: str, action: str = "failed", context: str = "") -> Verdict:
    """The cause of one recipient's failure.

    `status` is the report's Status field (may be empty), `diagnostic` the remote server's
    reply or the text around the recipient, `action` the report's Action ("failed",
    "delayed"); `context` is weaker evidence (the report's human-readable part), consulted
    only when the diagnostic says nothing clear. Specific words decide first, then a specific
    status code, then vaguer words ("rejected", "denied").
    """
    text = SPACES.sub(" ", (diagnostic or "").lower())
    context = SPACES.sub(" ", (context or "").lower())[:4000]
    status = find_status(status, text) or find_status(context)
    if action.startswith("delay"):
        return Verdict(Cause.DELAYED, status)
    for source in (text, context):
        cause = _from_words(source, status)
        if cause is not None:
            return Verdict(_after_data(cause, text + " " + context), status)
    if status and not status.endswith(".0.0"):
        return Verdict(_from_status(status, text), status)
    if RELAY_OR_SENDER.search(text) or RELAY_OR_SENDER.search(context):
        return Verdict(Cause.REJECTED, status)
    return Verdict(_from_status(status, text), status)


def _after_data(cause: Cause, text: str) -> Cause:
    """An "unknown user" answered only after the message itself was sent (end of DATA) is a
    filter at the recipient's end refusing this message, not an address that is gone."""
    if cause == Cause.USER_UNKNOWN and AFTER_DATA.search(text):
        return Cause.REJECTED
    return cause


def _from_words(text: str, status: str) -> Cause | None:
    if not text:
        return None
    if MAILBOX_FULL.search(text):
        return Cause.MAILBOX_FULL
    if status.endswith(".4.1") and "access denied" in text:
        # Microsoft 365's directory-based edge blocking: the recipient is not in the directory.
        return Cause.USER_UNKNOWN
    if SPAM_OR_REPUTATION.search(text) and not _says_user_unknown(text, status):
        return Cause.POLICY
    if ABOUT_OUR_SENDER.search(text) or NO_RELAY.search(text):
        return Cause.REJECTED
    if DISABLED.search(text) and not status.endswith(".1.1"):
        return Cause.DISABLED
    if MOVED.search(text):
        return Cause.MOVED
    if DOMAIN_UNKNOWN.search(text):
        return Cause.DOMAIN_UNKNOWN
    if "mailbox unavailable" in text and _transient(text, status):
        return Cause.TEMPORARY
    if USER_UNKNOWN.search(text):
        return Cause.USER_UNKNOWN
    if TOO_LARGE.search(text):
        return Cause.TOO_LARGE
    if EXPIRED.search(text):
        return Cause.EXPIRED
    if TEMPORARY.search(text):
        return Cause.TEMPORARY
    return None


def _transient(text: str, status: str) -> bool:
    reply = REPLY.search(text)
    return status.startswith("4") or (reply is not None and reply.group(1).startswith("4"))


def _says_user_unknown(text: str, status: str) -> bool:
    # "550 5.1.1 <x>: Recipient address rejected: User unknown (see http://.../spam.html)":
    # the status and the words agree that the address is gone; a link is not a block.
    return status.split(".")[1:2] == ["1"] and USER_UNKNOWN.search(text) is not None


def _from_status(status: str, text: str) -> Cause:
    """The cause the status code alone gives, when the words said nothing we know."""
    if not status:
        reply = REPLY.search(text)
        return Cause.TEMPORARY if reply and reply.group(1).startswith("4") else Cause.OTHER
    klass, subject, detail = status.split(".")
    if subject == "1":
        return {
            "1": Cause.USER_UNKNOWN,
            "2": Cause.DOMAIN_UNKNOWN,
            "3": Cause.USER_UNKNOWN,
            "6": Cause.MOVED,
            "10": Cause.USER_UNKNOWN,
        }.get(detail, Cause.REJECTED if detail in ("7", "8") else Cause.OTHER)
    if subject == "2":
        return {"1": Cause.DISABLED, "2": Cause.MAILBOX_FULL, "3": Cause.TOO_LARGE}.get(
            detail, Cause.OTHER
        )
    if subject == "3":
        return Cause.TOO_LARGE if detail == "4" else Cause.TEMPORARY
    if subject == "4":
        return Cause.EXPIRED if detail == "7" else Cause.TEMPORARY
    if subject == "7":
        return Cause.POLICY
    if subject in ("5", "6"):
        return Cause.REJECTED
    return Cause.TEMPORARY if klass == "4" else Cause.OTHER
