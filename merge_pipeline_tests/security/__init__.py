"""Security tests of issue #13: the secret-leak scan, key rotation, fuzzed inputs."""
