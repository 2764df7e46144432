/* ports.c - server port guesses for connections seen without a handshake (DESIGN.md closer). */
#include <stdlib.h>

#include "finscope/ports.h"

/*
 * Registered (1024-49151) service ports a server commonly listens on, sorted.  Below 1024 every
 * port is a service port (IANA's well-known range; clients do not bind there by default).
 * Sources: IANA's service name registry and the defaults of the servers named.
 */
static const uint16_t registered[] = {
    1080,  /* SOCKS */
    1194,  /* OpenVPN */
    1344,  /* ICAP */
    1433,  /* Microsoft SQL Server */
    1434,  /* MS SQL browser */
    1521,  /* Oracle */
    1723,  /* PPTP */
    1812,  /* RADIUS (TCP) */
    1883,  /* MQTT */
    1911,  /* Niagara Fox */
    2049,  /* NFS */
    2181,  /* ZooKeeper */
    2375,  /* Docker API */
    2376,  /* Docker API (TLS) */
    2379,  /* etcd client */
    2380,  /* etcd peer */
    2404,  /* IEC 60870-5-104 */
    2811,  /* GridFTP */
    3000,  /* web application servers */
    3128,  /* Squid */
    3260,  /* iSCSI */
    3268,  /* LDAP global catalog */
    3269,  /* LDAP global catalog (TLS) */
    3306,  /* MySQL */
    3389,  /* RDP */
    3478,  /* STUN/TURN */
    4222,  /* NATS */
    4369,  /* Erlang port mapper */
    4443,  /* HTTPS alternate */
    4840,  /* OPC UA */
    4911,  /* Niagara Fox (TLS) */
    5000,  /* web application servers, UPnP */
    5060,  /* SIP */
    5061,  /* SIP (TLS) */
    5222,  /* XMPP client */
    5223,  /* XMPP client (legacy TLS) */
    5269,  /* XMPP server */
    5432,  /* PostgreSQL */
    5601,  /* Kibana */
    5671,  /* AMQP (TLS) */
    5672,  /* AMQP */
    5900,  /* VNC */
    5901,  /* VNC :1 */
    5984,  /* CouchDB */
    5985,  /* WinRM */
    5986,  /* WinRM (TLS) */
    6000,  /* X11 */
    6379,  /* Redis */
    6443,  /* Kubernetes API */
    6514,  /* syslog (TLS) */
    6666,  /* IRC */
    6667,  /* IRC */
    6668,  /* IRC */
    6669,  /* IRC */
    6697,  /* IRC (TLS) */
    7000,  /* Cassandra inter-node */
    7001,  /* Cassandra (TLS), WebLogic */
    8000,  /* HTTP alternate */
    8008,  /* HTTP alternate */
    8080,  /* HTTP alternate */
    8081,  /* HTTP alternate */
    8086,  /* InfluxDB */
    8088,  /* HTTP alternate */
    8118,  /* Privoxy */
    8200,  /* Vault */
    8443,  /* HTTPS alternate */
    8500,  /* Consul */
    8883,  /* MQTT (TLS) */
    8888,  /* HTTP alternate */
    9000,  /* application servers */
    9042,  /* Cassandra CQL */
    9090,  /* Prometheus */
    9092,  /* Kafka */
    9100,  /* node exporter, printers */
    9200,  /* Elasticsearch */
    9300,  /* Elasticsearch transport */
    9418,  /* git */
    9443,  /* HTTPS alternate */
    10000, /* Webmin, NDMP */
    10250, /* kubelet */
    11211, /* memcached */
    15672, /* RabbitMQ management */
    20000, /* DNP3 */
    25565, /* Minecraft */
    27017, /* MongoDB */
    44818, /* EtherNet/IP */
    47808, /* BACnet */
};

static int cmp_port(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

bool fsc_port_is_service(uint16_t port)
{
    if (port < 1024)
        return true;
    return bsearch(&port, registered, sizeof registered / sizeof *registered, sizeof *registered,
                   cmp_port) != NULL;
}

int fsc_port_pick_server(uint16_t a, uint16_t b, uint32_t seen_a, uint32_t seen_b)
{
    if (seen_a != seen_b)
        return seen_a > seen_b ? 0 : 1;
    bool sa = fsc_port_is_service(a), sb = fsc_port_is_service(b);
    if (sa != sb)
        return sa ? 0 : 1;
    return a <= b ? 0 : 1;
}
