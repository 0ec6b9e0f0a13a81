/* SPDX-License-Identifier: MIT */
/* dns — domain names, the query parser and the response writer.
 *
 * Names are kept in wire form (length-prefixed labels ending in the root label, at most 255
 * octets). "lower" names have ASCII letters folded to lowercase and are what the store keys on.
 * The query parser reads a packet in place through a bounded cursor with a sticky error; the
 * response writer fills a caller-owned buffer. Nothing here allocates; every function is
 * reentrant and may run on any thread.
 */
#ifndef CDNS_DNS_H
#define CDNS_DNS_H

#include "cdns/base.h"

#define CDNS_DNAME_MAX 255
#define CDNS_LABEL_MAX 63
#define CDNS_DNS_HDR_LEN 12
#define CDNS_EDNS_SIZE 1232 /* what we advertise (DNS flag day 2020) */
#define CDNS_UDP_MIN_SIZE 512

/* RR types and classes we name in code. */
enum {
    CDNS_T_A = 1,
    CDNS_T_NS = 2,
    CDNS_T_CNAME = 5,
    CDNS_T_SOA = 6,
    CDNS_T_PTR = 12,
    CDNS_T_HINFO = 13,
    CDNS_T_MX = 15,
    CDNS_T_TXT = 16,
    CDNS_T_AAAA = 28,
    CDNS_T_SRV = 33,
    CDNS_T_OPT = 41,
    CDNS_T_DS = 43,
    CDNS_T_RRSIG = 46,
    CDNS_T_NSEC = 47,
    CDNS_T_DNSKEY = 48,
    CDNS_T_IXFR = 251,
    CDNS_T_AXFR = 252,
    CDNS_T_ANY = 255,
    CDNS_T_CAA = 257,
};
enum { CDNS_C_IN = 1, CDNS_C_CH = 3, CDNS_C_NONE = 254, CDNS_C_ANY = 255 };

/* Octets of fixed rdata before the one domain name of the types whose rdata names another
 * owner (CNAME, NS, PTR, MX, SRV); -1 for the others. */
static inline int cdns_rdata_name_offset(uint16_t type)
{
    switch (type) {
    case CDNS_T_CNAME:
    case CDNS_T_NS:
    case CDNS_T_PTR:
        return 0;
    case CDNS_T_MX:
        return 2;
    case CDNS_T_SRV:
        return 6;
    default:
        return -1;
    }
}
enum {
    CDNS_RCODE_NOERROR = 0,
    CDNS_RCODE_FORMERR = 1,
    CDNS_RCODE_SERVFAIL = 2,
    CDNS_RCODE_NXDOMAIN = 3,
    CDNS_RCODE_NOTIMP = 4,
    CDNS_RCODE_REFUSED = 5,
    CDNS_RCODE_BADVERS = 16, /* extended: needs OPT */
};
enum { CDNS_OPCODE_QUERY = 0 };
/* Header flag bits in the 16-bit flags word. */
#define CDNS_F_QR 0x8000u
#define CDNS_F_AA 0x0400u
#define CDNS_F_TC 0x0200u
#define CDNS_F_RD 0x0100u
#define CDNS_F_RA 0x0080u
#define CDNS_F_AD 0x0020u
#define CDNS_F_CD 0x0010u
#define CDNS_F_OPCODE(f) (((f) >> 11) & 0xfu)
#define CDNS_EDNS_DO 0x8000u

/* ------------------------------------------------------------------- dname */
/* Length of a well-formed uncompressed wire name including the root label. */
size_t cdns_dname_len(const uint8_t *name);
/* Number of labels, not counting the root. */
int cdns_dname_labels(const uint8_t *name);
/* Folds ASCII letters to lowercase in place. */
void cdns_dname_lower(uint8_t *name);
/* dst := lowercase copy of src; returns the length. */
size_t cdns_dname_copy_lower(uint8_t *dst, const uint8_t *src);
/* Case-insensitive equality of two wire names. */
bool cdns_dname_equal(const uint8_t *a, const uint8_t *b);
/* True when name is zone or below it (both lowercase wire). */
bool cdns_dname_is_sub(const uint8_t *name, const uint8_t *zone);
/* The same when both lengths are known (len and slen octets) and both are lowercase: suffix is
 * name's tail on a label boundary. One compare and one walk, no length walks, no folding. */
bool cdns_dname_has_suffix(const uint8_t *name, size_t len, const uint8_t *suffix, size_t slen);
/* Whether name (lowercase, len octets) is one of zones[0..n) or lies below it; the zones are
 * lowercase wire, as every plugin's setup normalizes them. */
bool cdns_dname_under_any(const uint8_t *name, size_t len, const uint8_t (*zones)[CDNS_DNAME_MAX], size_t n);
/* Hash of a lowercase wire name (the store's key hash), a word at a time; the input must
 * already be lowercase. */
uint32_t cdns_dname_hash(const uint8_t *lower, size_t len);
/* Its 64 bits: cdns_dname_hash is the low half. A parsed query carries it (qname_hash). */
uint64_t cdns_dname_hash64(const uint8_t *lower, size_t len);
/* murmur3's 64-bit finaliser: spreads every input bit over all 64 output bits. The end of
 * cdns_dname_hash64, and what the cache mixes its key's other fields in with. */
static inline uint64_t cdns_hash_mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}
/* Text ("www.Example.org", "www.example.org.", "." ; \DDD and \X escapes) to wire. A relative
 * name is completed with origin when origin is non-NULL, else taken as absolute. */
int cdns_dname_from_str(const char *text, const uint8_t *origin, uint8_t out[CDNS_DNAME_MAX], size_t *len);
/* Wire to text with a trailing dot ("." for the root); escapes as dig does. CDNS_ENOSPC if short. */
int cdns_dname_to_str(const uint8_t *name, char *out, size_t outlen);
/* Reads a possibly compressed name at *pos of pkt into out (uncompressed, case kept) and moves
 * *pos past it. Rejects pointer loops, forward pointers, pointers into the header, over-long
 * names and bad label types with CDNS_EMALFORMED. */
int cdns_dname_unpack(const uint8_t *pkt, size_t pkt_len, size_t *pos, uint8_t out[CDNS_DNAME_MAX], size_t *out_len);

/* ------------------------------------------------------------------- cursor */
/* Bounded reader with a sticky error (Knot's wire_ctx): after an overrun every read returns 0
 * and err stays CDNS_EMALFORMED; check once at the end. */
typedef struct cdns_wire {
    const uint8_t *base;
    size_t len;
    size_t pos;
    int err;
} cdns_wire_t;

void cdns_wire_init(cdns_wire_t *w, const uint8_t *base, size_t len);
uint8_t cdns_wire_u8(cdns_wire_t *w);
uint16_t cdns_wire_u16(cdns_wire_t *w);
uint32_t cdns_wire_u32(cdns_wire_t *w);
void cdns_wire_skip(cdns_wire_t *w, size_t n);
size_t cdns_wire_left(const cdns_wire_t *w);

/* -------------------------------------------------------------------- query */
/* What the parser returns besides CDNS_OK: the response the caller must send, or a drop. */
typedef enum {
    CDNS_QUERY_OK = 0,  /* answer it */
    CDNS_QUERY_DROP,    /* do not answer (QR=1, shorter than a header) */
    CDNS_QUERY_FORMERR, /* answer FORMERR (echo what header/question could be read) */
    CDNS_QUERY_NOTIMP,  /* opcode not QUERY */
    CDNS_QUERY_BADVERS, /* EDNS version > 0: BADVERS with OPT version 0 */
} cdns_query_status_t;

/* A parsed query. Filled by cdns_query_parse(); everything points into or copies from the
 * packet, nothing is allocated. */
typedef struct cdns_query {
    uint16_t id;
    uint16_t flags; /* header flags word as received */
    uint16_t qtype;
    uint16_t qclass;
    uint8_t opcode;
    bool has_question;                   /* QDCOUNT == 1 and the question parsed */
    uint8_t qname[CDNS_DNAME_MAX];       /* as received, case kept, uncompressed */
    uint8_t qname_lower[CDNS_DNAME_MAX]; /* lowercase copy: the lookup key */
    uint8_t qname_len;                   /* octets including the root label */
    uint8_t qname_labels;
    uint16_t question_len; /* octets of the question section (name + 4) */
    /* cdns_dname_hash64(qname_lower, qname_len), hashed once: its low half is cdns_dname_hash,
     * the store's key; the cache mixes the question's other fields into the whole. */
    uint64_t qname_hash;
    /* EDNS(0) */
    bool has_edns;
    uint8_t edns_version;
    uint16_t edns_udp_size; /* client's advertised size as received */
    uint16_t edns_flags;    /* DO bit etc. */
} cdns_query_t;

/* Parses header, the single question and an OPT record in the additional section.
 * Rejects: QDCOUNT != 1, ANCOUNT/NSCOUNT != 0 (FORMERR), more than one OPT or OPT not in the
 * additional section or not owned by the root (FORMERR), trailing garbage. */
cdns_query_status_t cdns_query_parse(const uint8_t *pkt, size_t len, cdns_query_t *q);
/* Points a parsed question at another name (wire, any case, len octets): qname and every field
 * derived from it; type, class, flags and EDNS stay. For plugins that rewrite the question. */
void cdns_query_set_name(cdns_query_t *q, const uint8_t *name, size_t len);

/* ------------------------------------------------------------------ writer */
/* Sections of a response. */
typedef enum { CDNS_SEC_ANSWER = 0, CDNS_SEC_AUTHORITY = 1, CDNS_SEC_ADDITIONAL = 2 } cdns_section_t;

/* Owner names in a response are either compression pointers into the packet (offset < 0x4000)
 * or a full wire name. Pointer 12 is the question name, so the answer owner keeps the
 * query's letter case. */
#define CDNS_MSG_QNAME_OFF 12

/* Remembered names for compression without hashing: the writer records where it wrote each
 * name that a later record may point to (question, rdata targets). */
#define CDNS_MSG_MAX_NAMES 64

/* A response under construction in a caller-owned buffer. */
typedef struct cdns_msg {
    uint8_t *buf;
    size_t cap;          /* bytes of buf */
    size_t limit;        /* largest response allowed (UDP size or 65535 for TCP), <= cap */
    size_t len;          /* bytes written */
    uint16_t count[3];   /* records per section */
    uint16_t flags;      /* header flags word to be written by cdns_msg_finish */
    uint16_t rcode;      /* full 12-bit rcode (upper 8 bits go to OPT) */
    bool truncated;      /* a record did not fit: TC must be set */
    bool edns;           /* add an OPT record on finish */
    uint16_t edns_flags; /* DO echoed */
    size_t reserve;      /* bytes kept free for the OPT record */
    /* compression table: lowercase names already in the packet, by offset */
    uint16_t name_off[CDNS_MSG_MAX_NAMES];
    uint8_t name_labels[CDNS_MSG_MAX_NAMES]; /* label count of each (counted on first use) */
    uint8_t nnames;
    /* The answering zone's place in the question (0: none). Names below it inside rdata are
     * written with the question's letter case for the zone part, as CoreDNS does. */
    uint16_t zone_off;
    uint8_t zone_len;
    bool raw; /* the whole message came from an upstream (cdns_msg_set_raw) */
    /* The last ANSWER record written: its type and where its rdata starts (0: none). Lets a
     * plugin see that an answer ends in a CNAME without re-reading the message. */
    uint16_t last_an_type;
    uint16_t last_an_rdata;
} cdns_msg_t;

/* Starts a response to q: header (ID, opcode, RD copied, QR set) and the question copied as
 * received. Sets limit from the transport: TCP 65535; UDP max(512, min(client EDNS size, cap)).
 * Reserves room for OPT when the query had EDNS. cap must be at least 282 octets (header, the
 * longest question and OPT). */
void cdns_msg_begin(cdns_msg_t *m, uint8_t *buf, size_t cap, const cdns_query_t *q, bool tcp);
/* Starts an error response (FORMERR/NOTIMP/...) echoing what of the query could be parsed. */
void cdns_msg_begin_error(cdns_msg_t *m, uint8_t *buf, size_t cap, const uint8_t *pkt, size_t pkt_len,
                          const cdns_query_t *q, uint16_t rcode);
/* Appends one record. owner_off != 0: the owner is a pointer to that offset; otherwise owner
 * is a full wire name (written compressed against the table when possible). rdata is written as
 * given (names inside must be uncompressed). All-or-nothing: CDNS_ENOSPC and m->truncated set
 * when it does not fit under limit - reserve. Records must be appended in section order
 * (answer, authority, additional). An owner written in full is remembered for compression. */
int cdns_msg_put_rr(cdns_msg_t *m, cdns_section_t sec, uint16_t owner_off, const uint8_t *owner, uint16_t type,
                    uint16_t rclass, uint32_t ttl_s, const uint8_t *rdata, uint16_t rdlen);
/* Marks the current length as a savepoint / rolls back to it (complete RRsets only on TC). */
typedef struct cdns_msg_mark {
    size_t len;
    uint16_t count[3];
    uint8_t nnames;
    uint16_t last_an_type, last_an_rdata;
} cdns_msg_mark_t;
cdns_msg_mark_t cdns_msg_mark(const cdns_msg_t *m);
void cdns_msg_rollback(cdns_msg_t *m, cdns_msg_mark_t mark);
/* Records that the name written at offset off (lowercase-equal to name) may be pointed to. */
void cdns_msg_remember_name(cdns_msg_t *m, uint16_t off);
/* Offset of an earlier occurrence of lowercase name (whole name, or a suffix of a remembered
 * name) usable as a compression pointer; 0 when there is none. */
uint16_t cdns_msg_find_name(const cdns_msg_t *m, const uint8_t *lower_name);
void cdns_msg_set_rcode(cdns_msg_t *m, uint16_t rcode);
/* Declares that the last zone_len octets of the question name are the answering zone. */
void cdns_msg_set_zone(cdns_msg_t *m, uint16_t zone_off, uint8_t zone_len);
/* Writes the lowercase wire name into out for use inside rdata: when it lies below the zone
 * set with cdns_msg_set_zone, its zone part comes from the question (a compression pointer
 * when compress, else a copy of the question's octets), keeping the client's letter case.
 * Returns the octets written (at most CDNS_DNAME_MAX). */
size_t cdns_msg_rdata_name(const cdns_msg_t *m, const uint8_t *name, bool compress, uint8_t *out);
/* Writes counts, flags (TC when truncated), rcode and the OPT record; returns the final length. */
size_t cdns_msg_finish(cdns_msg_t *m);

/* True when reply (a whole message from an upstream) answers a query with this id and q's
 * question: QR set, opcode QUERY, QDCOUNT 1 and the same name (letter case ignored), type and
 * class. What forward checks before it accepts a datagram (spoofing resistance). */
bool cdns_msg_reply_matches(const uint8_t *reply, size_t len, uint16_t id, const cdns_query_t *q);
/* Raw mode: makes an upstream's reply (which cdns_msg_reply_matches accepted) the response. The
 * ID and the question's letter case become the client's (q); counts, flags, rcode and OPT are
 * the reply's. cdns_msg_finish() then leaves it as it is, except that a reply larger than the
 * client's limit is cut to the whole records that fit (OPT kept) with TC set. CDNS_ENOSPC when
 * it is larger than the buffer, CDNS_EMALFORMED when it is not a message. */
int cdns_msg_set_raw(cdns_msg_t *m, const uint8_t *reply, size_t len, const cdns_query_t *q);

/* Text helpers for logs and tests. */
const char *cdns_rrtype_name(uint16_t type, char buf[16]);
int cdns_rrtype_from_name(const char *name, uint16_t *type);
const char *cdns_rcode_name(uint16_t rcode);

#endif
