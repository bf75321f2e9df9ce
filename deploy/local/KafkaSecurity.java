// SCRAM users and ACLs for the local Kafka broker (deploy/local/stack.sh), through the kafka-clients
// Admin API. A single-file Java 17 program: run it by source launch with the broker jars on the
// classpath (the JVM expands the quoted wildcard itself):
//
//   java -cp "$KAFKA_LIB_DIR/*" deploy/local/KafkaSecurity.java --bootstrap 127.0.0.1:9092 COMMAND...
//
// or, with --bootstrap and the classpath filled in:  deploy/local/stack.sh security COMMAND...
//
//   user NAME PASSWORD [MECHANISM[,MECHANISM]]   upsert a SCRAM credential (default SCRAM-SHA-512,
//                                                4096 iterations); waits until the broker describes it
//   acl allow PRINCIPAL OPERATION RESOURCE_TYPE NAME [LITERAL|PREFIXED]
//                                                add an ALLOW ACL for host *; waits until it is visible
//   acls clear PRINCIPAL                         delete every ACL of PRINCIPAL; waits until they are gone
//   acls list [PRINCIPAL]                        print the ACLs, one per line
//
// Connect over the PLAINTEXT listener: its principal User:ANONYMOUS is a super user there.
// Exit codes: 0 ok, 1 the broker refused or did not answer in time, 2 usage.
//
// Why wait after each change: in KRaft the change is committed by the controller and reaches the
// broker's credential cache and authorizer through the metadata log a moment later. Describe calls
// are answered by the broker from that same state, so once they show the change, a client that
// authenticates (or is authorized) next sees it too - tests can use a user right after this returns.

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.admin.UserScramCredentialsDescription;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.ResourceNotFoundException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;

public class KafkaSecurity {
    static final int ITERATIONS = 4096;
    static final String ANY_HOST = "*";

    /** A usage error: exit 2 with the usage text. */
    static final class Usage extends RuntimeException {
        Usage(String message) {
            super(message);
        }
    }

    /** A failure with a message for the user: exit 1. */
    static final class Failure extends RuntimeException {
        Failure(String message) {
            super(message);
        }
    }

    static final String USAGE = String.join("\n",
            "usage: KafkaSecurity --bootstrap HOST:PORT [--timeout-ms MS] COMMAND",
            "  user NAME PASSWORD [MECHANISM[,MECHANISM]]   (SCRAM-SHA-512 | SCRAM-SHA-256; default SCRAM-SHA-512)",
            "  acl allow PRINCIPAL OPERATION RESOURCE_TYPE NAME [LITERAL|PREFIXED]",
            "      e.g. acl allow User:worker READ TOPIC test. PREFIXED",
            "      RESOURCE_TYPE: TOPIC | GROUP | CLUSTER (NAME kafka-cluster) | TRANSACTIONAL_ID",
            "  acls clear PRINCIPAL",
            "  acls list [PRINCIPAL]");

    public static void main(String[] argv) {
        quietKafkaLogging();
        List<String> args = new ArrayList<>(List.of(argv));
        String bootstrap = null;
        long timeoutMs = 30_000;
        try {
            while (!args.isEmpty() && args.get(0).startsWith("--")) {
                String flag = args.remove(0);
                if (flag.equals("--help")) {
                    System.out.println(USAGE);
                    return;
                }
                if (args.isEmpty()) throw new Usage(flag + " needs a value");
                String value = args.remove(0);
                switch (flag) {
                    case "--bootstrap" -> bootstrap = value;
                    case "--timeout-ms" -> timeoutMs = parseTimeout(value);
                    default -> throw new Usage("unknown option " + flag);
                }
            }
            if (bootstrap == null) throw new Usage("--bootstrap HOST:PORT is required");
            if (args.isEmpty()) throw new Usage("no command given");
            // Parse everything before connecting, so a typo never waits for a broker.
            Command command = parse(args);
            try (Admin admin = Admin.create(adminConfig(bootstrap, timeoutMs))) {
                command.run(admin, timeoutMs);
            }
        } catch (Usage e) {
            System.err.println("KafkaSecurity: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
        } catch (Failure e) {
            System.err.println("KafkaSecurity: error: " + e.getMessage());
            System.exit(1);
        } catch (Exception e) {
            Throwable cause = unwrap(e);
            String hint = cause instanceof org.apache.kafka.common.errors.TimeoutException
                    ? " (no answer from " + bootstrap + " within " + timeoutMs + " ms: is the broker up?)" : "";
            System.err.println("KafkaSecurity: error: " + describe(cause) + hint);
            System.exit(1);
        }
        // Admin's threads are closed above; exit explicitly anyway so a stray non-daemon thread
        // can never keep the JVM (and the calling stack.sh) alive.
        System.exit(0);
    }

    interface Command {
        void run(Admin admin, long timeoutMs) throws Exception;
    }

    static Command parse(List<String> args) {
        String verb = args.get(0);
        List<String> rest = args.subList(1, args.size());
        switch (verb) {
            case "user": {
                if (rest.size() < 2 || rest.size() > 3) throw new Usage("user NAME PASSWORD [MECHANISM]");
                String name = rest.get(0), password = rest.get(1);
                if (name.isEmpty()) throw new Usage("user NAME must not be empty");
                if (password.isEmpty()) throw new Usage("user PASSWORD must not be empty");
                List<ScramMechanism> mechanisms = new ArrayList<>();
                for (String m : (rest.size() == 3 ? rest.get(2) : "SCRAM-SHA-512").split(",")) {
                    ScramMechanism mechanism = ScramMechanism.fromMechanismName(m.trim().toUpperCase(Locale.ROOT));
                    if (mechanism == ScramMechanism.UNKNOWN) {
                        throw new Usage("unknown SCRAM mechanism '" + m + "' (SCRAM-SHA-512 or SCRAM-SHA-256)");
                    }
                    mechanisms.add(mechanism);
                }
                return (admin, timeoutMs) -> upsertUser(admin, timeoutMs, name, password, mechanisms);
            }
            case "acl": {
                if (rest.size() < 5 || rest.size() > 6 || !rest.get(0).equals("allow")) {
                    throw new Usage("acl allow PRINCIPAL OPERATION RESOURCE_TYPE NAME [LITERAL|PREFIXED]");
                }
                String principal = principal(rest.get(1));
                AclOperation operation = AclOperation.fromString(rest.get(2).toUpperCase(Locale.ROOT));
                if (operation == AclOperation.UNKNOWN || operation == AclOperation.ANY) {
                    throw new Usage("unknown operation '" + rest.get(2) + "' (READ, WRITE, CREATE, DELETE, ALTER, "
                            + "DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, ALL, ...)");
                }
                ResourceType type = ResourceType.fromString(rest.get(3).toUpperCase(Locale.ROOT));
                if (type == ResourceType.UNKNOWN || type == ResourceType.ANY) {
                    throw new Usage("unknown resource type '" + rest.get(3)
                            + "' (TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID, DELEGATION_TOKEN, USER)");
                }
                String name = rest.get(4);
                if (name.isEmpty()) throw new Usage("resource NAME must not be empty");
                if (type == ResourceType.CLUSTER && !name.equals("kafka-cluster")) {
                    throw new Usage("the CLUSTER resource is named kafka-cluster, not '" + name + "'");
                }
                PatternType pattern = PatternType.LITERAL;
                if (rest.size() == 6) {
                    pattern = PatternType.fromString(rest.get(5).toUpperCase(Locale.ROOT));
                    if (pattern != PatternType.LITERAL && pattern != PatternType.PREFIXED) {
                        throw new Usage("pattern type must be LITERAL or PREFIXED, not '" + rest.get(5) + "'");
                    }
                }
                AclBinding binding = new AclBinding(new ResourcePattern(type, name, pattern),
                        new AccessControlEntry(principal, ANY_HOST, operation, AclPermissionType.ALLOW));
                return (admin, timeoutMs) -> allow(admin, timeoutMs, binding);
            }
            case "acls": {
                if (rest.size() == 2 && rest.get(0).equals("clear")) {
                    String principal = principal(rest.get(1));
                    return (admin, timeoutMs) -> clear(admin, timeoutMs, principal);
                }
                if (rest.size() <= 2 && !rest.isEmpty() && rest.get(0).equals("list")) {
                    String principal = rest.size() == 2 ? principal(rest.get(1)) : null;
                    return (admin, timeoutMs) -> list(admin, principal);
                }
                throw new Usage("acls clear PRINCIPAL | acls list [PRINCIPAL]");
            }
            default:
                throw new Usage("unknown command '" + verb + "'");
        }
    }

    // -----------------------------------------------------------------------------------------------
    // commands

    static void upsertUser(Admin admin, long timeoutMs, String name, String password,
            List<ScramMechanism> mechanisms) throws Exception {
        // One request per mechanism: the broker rejects a request that alters one user twice
        // (DuplicateResourceException), even for two different mechanisms.
        for (ScramMechanism mechanism : mechanisms) {
            UserScramCredentialAlteration upsert = new UserScramCredentialUpsertion(name,
                    new ScramCredentialInfo(mechanism, ITERATIONS), password);
            admin.alterUserScramCredentials(List.of(upsert)).all().get();
        }
        // An upsert with the same iterations looks identical to the old credential in describe (it
        // only shows mechanism + iterations), so a password change cannot be observed directly; the
        // controller has committed it by now and the broker applies metadata in order, so seeing the
        // credential is the best available signal.
        waitFor(timeoutMs, "the SCRAM credential of '" + name + "' to become visible", () -> {
            Map<String, UserScramCredentialsDescription> found;
            try {
                found = admin.describeUserScramCredentials(List.of(name)).all().get();
            } catch (ExecutionException e) {
                if (e.getCause() instanceof ResourceNotFoundException) return false;
                throw new RuntimeException(e);
            } catch (InterruptedException e) {
                throw new RuntimeException(e);
            }
            UserScramCredentialsDescription description = found.get(name);
            if (description == null) return false;
            for (ScramMechanism mechanism : mechanisms) {
                boolean present = description.credentialInfos().stream()
                        .anyMatch(info -> info.mechanism() == mechanism && info.iterations() == ITERATIONS);
                if (!present) return false;
            }
            return true;
        });
        System.out.println("user " + name + ": " + String.join(",",
                mechanisms.stream().map(ScramMechanism::mechanismName).toList()) + " (" + ITERATIONS + " iterations)");
    }

    static void allow(Admin admin, long timeoutMs, AclBinding binding) throws Exception {
        admin.createAcls(List.of(binding)).all().get();
        waitFor(timeoutMs, "the ACL to become visible", () -> !describe(admin, binding.toFilter()).isEmpty());
        System.out.println("added " + format(binding));
    }

    static void clear(Admin admin, long timeoutMs, String principal) throws Exception {
        AclBindingFilter filter = byPrincipal(principal);
        Collection<AclBinding> deleted = admin.deleteAcls(List.of(filter)).all().get();
        waitFor(timeoutMs, "the deleted ACLs to disappear", () -> describe(admin, filter).isEmpty());
        System.out.println("deleted " + deleted.size() + " ACL(s) of " + principal);
    }

    static void list(Admin admin, String principal) {
        AclBindingFilter filter = principal == null ? AclBindingFilter.ANY : byPrincipal(principal);
        describe(admin, filter).stream().map(KafkaSecurity::format).sorted().forEach(System.out::println);
    }

    // -----------------------------------------------------------------------------------------------
    // helpers

    static AclBindingFilter byPrincipal(String principal) {
        return new AclBindingFilter(ResourcePatternFilter.ANY,
                new AccessControlEntryFilter(principal, null, AclOperation.ANY, AclPermissionType.ANY));
    }

    static Collection<AclBinding> describe(Admin admin, AclBindingFilter filter) {
        try {
            return admin.describeAcls(filter).values().get();
        } catch (ExecutionException | InterruptedException e) {
            throw new RuntimeException(e);
        }
    }

    static String format(AclBinding b) {
        AccessControlEntry e = b.entry();
        ResourcePattern p = b.pattern();
        return String.join(" ", e.principal(), e.permissionType().name(), e.operation().name(),
                p.resourceType().name(), p.name(), p.patternType().name(), "host=" + e.host());
    }

    static String principal(String value) {
        int colon = value.indexOf(':');
        if (colon <= 0 || colon == value.length() - 1) {
            throw new Usage("principal must look like User:NAME, not '" + value + "'");
        }
        return value;
    }

    static long parseTimeout(String value) {
        try {
            long ms = Long.parseLong(value);
            if (ms > 0) return ms;
        } catch (NumberFormatException ignored) {
            // fall through to the usage error
        }
        throw new Usage("--timeout-ms needs a positive number, not '" + value + "'");
    }

    static void waitFor(long timeoutMs, String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new Failure("timed out after " + timeoutMs + " ms waiting for " + what);
            Thread.sleep(100);
        }
    }

    static Properties adminConfig(String bootstrap, long timeoutMs) {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, "actionstream-kafka-security");
        // Fail within timeoutMs when no broker answers, instead of Admin's default of a minute.
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, Long.toString(timeoutMs));
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, Long.toString(Math.min(timeoutMs, 15_000)));
        return props;
    }

    static Throwable unwrap(Throwable t) {
        while ((t instanceof ExecutionException || (t instanceof RuntimeException && t.getClass() == RuntimeException.class))
                && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    static String describe(Throwable t) {
        String message = t.getMessage();
        return t.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    }

    /**
     * The Admin client logs a WARN for every failed connection attempt; we report failures ourselves,
     * so raise org.apache.kafka to ERROR. Reflection, because log4j-core is only on the classpath when
     * run with the broker jars; without it this is a no-op.
     */
    static void quietKafkaLogging() {
        // The source launcher loads this class in its own class loader, and log4j's default selector
        // keeps one logging context per class loader - so a level set from here would not reach the
        // Kafka classes. One context for the whole JVM (set before log4j initialises) fixes that.
        if (System.getProperty("log4j2.contextSelector") == null) {
            System.setProperty("log4j2.contextSelector", "org.apache.logging.log4j.core.selector.BasicContextSelector");
        }
        try {
            Class<?> level = Class.forName("org.apache.logging.log4j.Level");
            Class.forName("org.apache.logging.log4j.core.config.Configurator")
                    .getMethod("setLevel", String.class, level)
                    .invoke(null, "org.apache.kafka", level.getField("ERROR").get(null));
        } catch (ReflectiveOperationException | LinkageError | RuntimeException ignored) {
            // no log4j-core: whatever logging the classpath has stays as it is
        }
    }
}
